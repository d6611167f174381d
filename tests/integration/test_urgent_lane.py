"""The urgent lane on the real stack: a likely-urgent submission takes complaints.intake.urgent, is stored
once, announced on complaints.urgent (`ticket.urgent`) ahead of a normal backlog, then linked to its incident
by the normal lane (`ticket.processed`); a screened alarm the judgement lowers still reaches the desk, marked
`lowered`."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import orjson

from app.intake import bus_key
from ingest.bus.murmur import murmur2
from ingest.schemas.records import IntakeRecord
from ingest.settings import Settings
from ingest.topics import EVENTS, INTAKE, INTAKE_URGENT, URGENT, topic_name
from loadtest.bench.pipeline import prefill
from loadtest.bench.records import BENCH_SECRET, intake_records
from tests.api_support import wechat_record
from tests.integration.helpers import fetchval, pipeline, read_topic, wait_until

GAS = {
    "channel": "wechat",
    "external_id": "lane-gas-1",
    "content": "朝阳区望京西园三区5号楼2单元楼道里煤气味特别重，三楼那家敲门没人应，快派人来！",
    "citizen": {"wechat_openid": "oLane0001"},
}
# A power cut that is over: the screen sends it on the lane, the judgement finds it over.
PAST_OUTAGE = {
    "channel": "wechat",
    "external_id": "lane-past-1",
    "content": "前天晚上小区停电了，已经恢复了，冰箱里东西坏了找谁赔",
    "citizen": {"wechat_openid": "oLane0002"},
}
ORDINARY = {
    "channel": "web",
    "external_id": "lane-normal-1",
    "title": "物业乱收停车费",
    "content": "小区物业未经业主同意上调停车费，每月多收两百元。",
    "citizen": {"phone": "13800000002"},
}


async def _post(http: Any, body: dict[str, Any]) -> str:
    resp = await http.post("/v1/complaints", json=body)
    assert resp.status_code == 202, resp.text
    ticket: str = resp.json()["ticket_id"]
    return ticket


async def test_urgent_and_lowered_alarms_reach_the_desk_once(stack_settings: Settings) -> None:
    prefix, bootstrap = stack_settings.topic_prefix, stack_settings.kafka_bootstrap_servers
    async with pipeline(stack_settings) as http:
        gas = await _post(http, GAS)
        assert await _post(http, GAS) == gas  # a retry: the same ticket
        past_outage = await _post(http, PAST_OUTAGE)
        ordinary = await _post(http, ORDINARY)

        async def linked() -> bool:
            got = [(await http.get(f"/v1/complaints/{t}")).json() for t in (gas, past_outage, ordinary)]
            return all(t["status"] == "processed" and t["incident_id"] for t in got)

        assert await wait_until(linked, timeout_s=60)
        stored_gas = (await http.get(f"/v1/complaints/{gas}")).json()
    assert (stored_gas["urgency"], stored_gas["urgency_situation"]) == ("critical", "gas_leak")
    assert stored_gas["urgent_screen"] == "gas_leak" and "gas_leak" in stored_gas["urgency_reason"]
    assert await fetchval(stack_settings, "SELECT count(*) FROM tickets WHERE ticket_id = $1", gas) == 1

    lane = await read_topic(bootstrap, topic_name(INTAKE_URGENT, prefix), expect=3)
    assert {orjson.loads(v)["ticket_id"] for _, v in lane} == {gas, past_outage}
    # The lane passes its tickets on to the normal lane, which links them.
    normal = await read_topic(bootstrap, topic_name(INTAKE, prefix), expect=3)
    assert {orjson.loads(v)["ticket_id"] for _, v in normal} == {ordinary, gas, past_outage}

    desk: dict[tuple[str, str], dict[str, Any]] = {}
    for key, value in await read_topic(bootstrap, topic_name(URGENT, prefix), expect=4):
        event = orjson.loads(value)
        desk.setdefault((key.decode(), event["event_type"]), event)
    assert set(desk) == {(t, e) for t in (gas, past_outage) for e in ("ticket.urgent", "ticket.processed")}
    for event_type in ("ticket.urgent", "ticket.processed"):
        gas_event, past_event = desk[gas, event_type], desk[past_outage, event_type]
        assert (gas_event["urgency_change"], gas_event["urgency"]) == ("confirmed", "critical")
        assert (past_event["urgency_change"], past_event["urgency"]) == ("lowered", "normal")
    # The announcement comes before the links; the processed event carries them, as stored.
    assert "incident_id" not in desk[gas, "ticket.urgent"]
    assert desk[gas, "ticket.processed"]["incident_id"] == stored_gas["incident_id"]
    events = await read_topic(bootstrap, topic_name(EVENTS, prefix), expect=3)
    assert {k.decode() for k, _ in events} == {gas, past_outage, ordinary}
    assert {orjson.loads(v)["event_type"] for _, v in events} == {"ticket.processed"}


async def test_an_urgent_ticket_does_not_wait_for_the_normal_backlog(stack_settings: Settings) -> None:
    prefix, bootstrap = stack_settings.topic_prefix, stack_settings.kafka_bootstrap_servers
    backlog = 12_000
    await prefill(bootstrap, topic_name(INTAKE, prefix), intake_records(backlog, prefix))
    async with pipeline(stack_settings) as http:
        # The worker is now busy with the backlog; the urgent submission arrives behind it.
        gas = await _post(http, {**GAS, "external_id": "lane-gas-backlog"})

        async def gas_stored() -> bool:
            return bool((await http.get(f"/v1/complaints/{gas}")).json()["status"] == "processed")

        assert await wait_until(gas_stored, timeout_s=60, every_s=0.05)
        stored = await fetchval(stack_settings, "SELECT count(*) FROM tickets")
    assert isinstance(stored, int)
    # Stored while most of the normal backlog was still waiting.
    assert stored < backlog // 2, f"the urgent ticket was stored after {stored} of {backlog} normal ones"


def _in_one_partition(records: list[IntakeRecord], like: IntakeRecord) -> list[IntakeRecord]:
    """`records`, each given a citizen of its own whose records share `like`'s intake partition: a backlog
    that one partition's worker must get through before it reaches `like`."""

    def partition(citizen_key: str | None, ticket_id: str) -> int:
        return (murmur2(bus_key(citizen_key, ticket_id, BENCH_SECRET)) & 0x7FFFFFFF) % INTAKE.partitions

    target = partition(like.citizen_key, like.ticket_id)
    citizens = (f"wx:backlog-{i}" for i in itertools.count())
    same = (c for c in citizens if partition(c, "") == target)
    return [r.model_copy(update={"citizen_key": next(same)}) for r in records]


async def test_an_urgent_submission_the_screen_missed_is_caught_ahead_of_the_backlog(
    stack_settings: Settings,
) -> None:
    prefix, bootstrap = stack_settings.topic_prefix, stack_settings.kafka_bootstrap_servers
    backlog = 6_000
    # Behind the backlog on the normal lane, as the gateway puts a submission its screen did not flag.
    missed = wechat_record(f"T-missed-{uuid.uuid4().hex[:8]}", str(GAS["content"]))
    assert missed.urgent_screen is None
    ahead = _in_one_partition(intake_records(backlog, prefix), missed)
    await prefill(bootstrap, topic_name(INTAKE, prefix), [*ahead, missed])
    count = "SELECT count(*) FROM tickets WHERE ticket_id = $1"
    async with pipeline(stack_settings):

        async def stored() -> bool:
            return bool(await fetchval(stack_settings, count, missed.ticket_id))

        assert await wait_until(stored, timeout_s=60, every_s=0.05)
        others = await fetchval(stack_settings, "SELECT count(*) FROM tickets")
    assert isinstance(others, int)
    # Without the sentinel the normal lane stores it after every record ahead of it in its partition. (Here
    # the sentinel shares one event loop with the normal lane; in production it runs beside the urgent lane.)
    assert others < backlog, f"stored after all {backlog} tickets ahead of it"
    # The sentinel's copy took the urgent lane, which announced the ticket first.
    copies = await read_topic(bootstrap, topic_name(INTAKE_URGENT, prefix), expect=1)
    assert missed.ticket_id in {orjson.loads(v)["ticket_id"] for _, v in copies}
    desk = await read_topic(bootstrap, topic_name(URGENT, prefix), expect=1)
    first = next(orjson.loads(v) for k, v in desk if k.decode() == missed.ticket_id)
    assert (first["event_type"], first["urgency"]) == ("ticket.urgent", "critical")
    assert await fetchval(stack_settings, count, missed.ticket_id) == 1
