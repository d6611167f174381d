"""The urgent lane's sentinel: the workers' urgency model, reading the normal lane ahead of its backlog.

The gateway's screen is cheap, so it misses some urgent submissions; those go on `complaints.intake` and would
wait there behind the backlog. The sentinel reads `complaints.intake` at its head, in a consumer group of its
own, and judges the urgency of each record there, with the same model the workers judge
tickets with (no storage, no incident grouping: it keeps up with the gateway). It copies those it finds
urgent onto `complaints.intake.urgent`, marked `rescreened_from` and under the lane's budget per situation.
The urgent lane stores and announces them; the originals stay on `complaints.intake`, where the normal lane
links them as it links every ticket the urgent lane stored.

Nothing depends on the sentinel for correctness, only for speed: a record it skips, or copies twice after a
crash, is still stored once (the store is idempotent) and judged in full by the normal lane.
"""

from __future__ import annotations

import asyncio

import orjson
from pydantic import ValidationError

from ingest.bus import BusMessage, BusProducer, BusUnavailable, Offsets
from ingest.bus.base import Outgoing
from ingest.schemas.records import IntakeRecord
from ingest.urgency.catalogue import NORMAL
from ingest.urgency.lane_budget import LaneBudget
from ingest.urgency.screen import SURE_PROBABILITY, UNSPECIFIED
from workers.batch import JUDGE_SLICE, next_offsets
from workers.errors import TransientError
from workers.events import send_all
from workers.judgement.urgency.model import UrgencyModel
from workers.lane_headers import RESCREENED_HEADER, copied, from_another_lane
from workers.metrics import RESCREENED, SENTINEL_READ


def gateway_records(messages: list[BusMessage]) -> list[tuple[BusMessage, IntakeRecord]]:
    """The records the gateway put on the normal lane, parsed: those its screen did not flag, and those it
    flagged when their situation's lane budget was spent (the screen's situation is a guess from the opening;
    everyday texts that sound alarming can spend a situation's budget before a real emergency comes). Left
    out: records that came from another lane, and records that do not parse (the normal lane dead-letters
    them)."""
    found = []
    for msg in messages:
        if from_another_lane(msg):
            continue
        try:
            found.append((msg, IntakeRecord.from_bytes(msg.value)))
        except (ValidationError, orjson.JSONDecodeError, UnicodeDecodeError):
            continue
    return found


class Sentinel:
    """Judges a batch of the normal lane's records and copies the urgent ones onto the urgent lane."""

    def __init__(
        self, producer: BusProducer, urgency: UrgencyModel, budget: LaneBudget, urgent_intake_topic: str
    ) -> None:
        self._producer = producer
        self._urgency = urgency
        self._budget = budget
        self._topic = urgent_intake_topic

    async def urgent(self, messages: list[BusMessage]) -> list[BusMessage]:
        """The batch's records the model finds urgent and the lane's budget admits."""
        candidates = gateway_records(messages)
        SENTINEL_READ.inc(len(candidates))
        chosen: list[BusMessage] = []
        for start in range(0, len(candidates), JUDGE_SLICE):
            if start:
                await asyncio.sleep(0)  # the urgent lane shares this event loop
            part = candidates[start : start + JUDGE_SLICE]
            verdicts = self._urgency.assess_many([(r.title, r.content) for _, r in part])
            for (msg, _), verdict in zip(part, verdicts, strict=True):
                if verdict.level == NORMAL:
                    continue
                sure = verdict.score >= SURE_PROBABILITY
                admitted = self._budget.take(verdict.situation or UNSPECIFIED, sure)
                RESCREENED.labels(outcome="lane" if admitted else "over_budget").inc()
                if admitted:
                    chosen.append(msg)
        return chosen

    async def process(self, messages: list[BusMessage]) -> Offsets:
        """Copy the batch's urgent records onto the urgent lane; return the offsets to commit."""
        copies: list[Outgoing] = copied(await self.urgent(messages), self._topic, RESCREENED_HEADER)
        try:
            await send_all(self._producer, copies)
        except BusUnavailable as exc:
            raise TransientError(f"bus: {exc}") from exc
        return next_offsets(messages)
