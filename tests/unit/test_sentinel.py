"""The urgent lane's sentinel on the in-process bus: which records of the normal lane it copies onto the
urgent lane, and the lane's budget it keeps (workers/sentinel.py)."""

from __future__ import annotations

import orjson
import pytest

from ingest.bus import BusMessage
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessBroker, InProcessProducer
from ingest.settings import Settings
from ingest.topics import INTAKE, INTAKE_URGENT
from ingest.urgency.lane_budget import SURE_BUDGET_FACTOR, LaneBudget
from ingest.urgency.screen import SURE_PROBABILITY
from tests.api_support import wechat_record
from workers.judgement.urgency.model import UrgencyModel
from workers.lane_headers import FORWARDED_HEADER, RESCREENED_HEADER, is_rescreened
from workers.sentinel import Sentinel

GAS = "望京西园三区5号楼楼道里煤气味特别重，三楼那家敲门没人应，快派人来！"
ORDINARY = "小区物业未经业主同意上调停车费，每月多收两百元。"


@pytest.fixture(scope="module")
def urgency() -> UrgencyModel:
    return UrgencyModel.load()


def _message(offset: int, content: str, **fields: object) -> BusMessage:
    record = wechat_record(f"T-{offset}", content).model_copy(update=fields)
    return BusMessage(INTAKE.name, 0, offset, b"c:key", record.to_bytes(), [("ticket_id", b"T")])


def _sentinel(urgency: UrgencyModel, rate: float = 50, burst: int = 50) -> tuple[Sentinel, InProcessBroker]:
    broker = in_process_broker(Settings())
    sentinel = Sentinel(InProcessProducer(broker), urgency, LaneBudget(rate, burst), INTAKE_URGENT.name)
    return sentinel, broker


async def test_copies_the_urgent_records_of_the_gateway_and_nothing_else(urgency: UrgencyModel) -> None:
    sentinel, broker = _sentinel(urgency)
    batch = [
        _message(0, GAS),
        _message(1, ORDINARY),
        # The screen flagged it, but the situation's lane budget at the gateway was spent.
        _message(2, GAS, urgent_screen="gas_leak"),
        BusMessage(INTAKE.name, 0, 3, b"k", b"not json"),
    ]
    forwarded = _message(4, GAS)
    batch.append(BusMessage(INTAKE.name, 0, 4, b"k", forwarded.value, [(FORWARDED_HEADER, b"x")]))

    offsets = await sentinel.process(batch)

    assert offsets == {(INTAKE.name, 0): 5}
    copies = broker.records(INTAKE_URGENT.name)
    assert [orjson.loads(m.value)["ticket_id"] for m in copies] == ["T-0", "T-2"]
    copy = copies[0]
    # The same record, key and headers as the original, marked as the sentinel's copy.
    assert (copy.key, copy.value) == (batch[0].key, batch[0].value)
    assert is_rescreened(copy) and (RESCREENED_HEADER, INTAKE.name.encode()) in copy.headers
    assert ("ticket_id", b"T") in copy.headers


async def test_a_rescreened_record_is_not_copied_again(urgency: UrgencyModel) -> None:
    sentinel, broker = _sentinel(urgency)
    original = _message(0, GAS)
    again = BusMessage(INTAKE.name, 0, 1, b"k", original.value, [(RESCREENED_HEADER, b"x")])
    await sentinel.process([again])
    assert broker.records(INTAKE_URGENT.name) == []


async def test_keeps_the_lane_budget_of_a_situation(urgency: UrgencyModel) -> None:
    # A burst of one incident: the first reports take the lane, the rest wait on the normal lane.
    sentinel, broker = _sentinel(urgency, rate=0.001, burst=2)
    sure = urgency.assess("", GAS).score >= SURE_PROBABILITY
    await sentinel.process([_message(i, GAS) for i in range(30)])
    assert len(broker.records(INTAKE_URGENT.name)) == (2 * SURE_BUDGET_FACTOR if sure else 2)


def test_the_lane_budget_is_per_situation() -> None:
    budget = LaneBudget(rate=0.001, burst=2)
    assert [budget.take("fire") for _ in range(3)] == [True, True, False]
    assert budget.take("gas_leak")
    # A sure call draws on a larger bucket of its own.
    assert budget.take("fire", sure=True)
