"""The worker's batch on the real Postgres: idempotent storage, events from stored rows, dead letters."""

import uuid

import orjson
from prometheus_client import REGISTRY

from ingest.bus import BusMessage
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessProducer
from ingest.settings import Settings
from ingest.topics import DLQ, EVENTS, INTAKE, INTAKE_URGENT, URGENT
from tests.api_support import wechat_record
from tests.integration.helpers import fetchval
from workers.batch import BatchProcessor
from workers.db import open_pool
from workers.dead_letters import DeadLetters
from workers.judgement.judge import Judge
from workers.lane_headers import RESCREENED_HEADER, is_forwarded


def _redelivery_counts() -> tuple[float, float]:
    return (
        REGISTRY.get_sample_value("jiesu_worker_redelivered_total") or 0.0,
        REGISTRY.get_sample_value("jiesu_worker_client_repeats_total") or 0.0,
    )


def _since(before: tuple[float, float]) -> tuple[float, float]:
    after = _redelivery_counts()
    return after[0] - before[0], after[1] - before[1]


def _messages(values: list[bytes]) -> list[BusMessage]:
    return [BusMessage("complaints.intake", 0, i, b"k", v) for i, v in enumerate(values)]


async def test_redelivered_batch_stores_once_and_publishes_the_same_event(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    broker = in_process_broker(settings)
    producer = InProcessProducer(broker)
    pool = await open_pool(settings)
    try:
        processor = BatchProcessor(pool, producer, Judge.load(), DeadLetters(producer, "", 100, 60))
        ids = [f"T-{uuid.uuid4().hex}" for _ in range(5)]
        # The same ticket twice within a batch, and the whole batch delivered twice.
        batch = _messages([wechat_record(t).to_bytes() for t in [*ids, ids[0]]])
        counted = _redelivery_counts()
        offsets = await processor.process(batch)
        assert offsets == {("complaints.intake", 0): 6}
        # The second ids[0] is a client's repeat within the batch; nothing was stored before.
        assert _since(counted) == (0, 1)
        counted = _redelivery_counts()
        await processor.process(batch)
        # Kafka redelivered the five records that stored them; the repeat is a repeat again.
        assert _since(counted) == (5, 1)
        stored = await fetchval(settings, "SELECT count(*) FROM tickets WHERE ticket_id = ANY($1)", ids)
        assert stored == 5
        events = [orjson.loads(m.value) for m in broker.records(EVENTS.name)]
        assert len(events) == 10
        # One event per delivery, identical both times: it is built from the stored row.
        for ticket_id in ids:
            mine = [e for e in events if e["ticket_id"] == ticket_id]
            assert len(mine) == 2 and mine[0] == mine[1]
    finally:
        await pool.close()


async def test_poison_goes_to_the_dead_letter_topic_and_the_rest_is_stored(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    broker = in_process_broker(settings)
    producer = InProcessProducer(broker)
    pool = await open_pool(settings)
    try:
        processor = BatchProcessor(pool, producer, Judge.load(), DeadLetters(producer, "", 100, 60))
        good = f"T-{uuid.uuid4().hex}"
        refused = f"T-{uuid.uuid4().hex}"
        # Postgres refuses NUL in text: a record only a buggy producer could write, refused by the database.
        values = [
            b"\xff not json",
            b'{"ticket_id": 1}',
            wechat_record(good).to_bytes(),
            wechat_record(refused, "a\x00b").to_bytes(),
        ]
        offsets = await processor.process(_messages(values))
        assert offsets == {("complaints.intake", 0): 4}
        assert await fetchval(settings, "SELECT count(*) FROM tickets WHERE ticket_id = $1", good) == 1
        assert await fetchval(settings, "SELECT count(*) FROM tickets WHERE ticket_id = $1", refused) == 0
        dead = broker.records(DLQ.name)
        stages = [dict(m.headers)["dlq_stage"] for m in dead]
        assert stages == [b"decode", b"decode", b"database"]
        assert all(dict(m.headers)["dlq_error"] for m in dead)
        assert dict(dead[0].headers)["dlq_source_offset"] == b"0"
    finally:
        await pool.close()


def _linked_after_urgent() -> float:
    return REGISTRY.get_sample_value("jiesu_worker_linked_after_urgent_total") or 0.0


async def test_urgent_lane_announces_first_and_the_normal_lane_links_once(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    broker = in_process_broker(settings)
    producer = InProcessProducer(broker)
    pool = await open_pool(settings)
    try:
        judge, dead_letters = Judge.load(), DeadLetters(producer, "", 100, 60)
        urgent_lane = BatchProcessor(pool, producer, judge, dead_letters, forward_to=INTAKE.name)
        normal_lane = BatchProcessor(pool, producer, judge, dead_letters)
        ids = [f"T-{uuid.uuid4().hex}" for _ in range(3)]
        gas = "望京西园三区5号楼楼道里煤气味特别重，快派人来！"
        batch = [
            BusMessage(INTAKE_URGENT.name, 0, i, b"k", wechat_record(t, gas).to_bytes())
            for i, t in enumerate(ids)
        ]
        await urgent_lane.process(batch)
        # Stored and announced, not linked yet; passed on to the normal lane, marked as such.
        unlinked = "SELECT count(*) FROM tickets WHERE ticket_id = ANY($1) AND incident_id IS NULL"
        assert await fetchval(settings, unlinked, ids) == 3
        announced = [orjson.loads(m.value) for m in broker.records(URGENT.name)]
        assert sorted(e["ticket_id"] for e in announced) == sorted(ids)
        assert {e["event_type"] for e in announced} == {"ticket.urgent"}
        passed_on = broker.records(INTAKE.name)
        assert len(passed_on) == 3 and all(is_forwarded(m) for m in passed_on)
        assert broker.records(EVENTS.name) == []

        counted, linked_before = _redelivery_counts(), _linked_after_urgent()
        members = "SELECT coalesce(sum(size), 0) FROM incidents"
        members_before = await fetchval(settings, members)
        assert isinstance(members_before, int)
        await normal_lane.process(passed_on)
        assert await fetchval(settings, unlinked, ids) == 0
        assert _linked_after_urgent() - linked_before == 3
        assert _since(counted) == (0, 0)  # a passed-on record is neither a redelivery nor a client's repeat
        processed = {
            e["ticket_id"]: e for e in map(orjson.loads, (m.value for m in broker.records(EVENTS.name)))
        }
        assert set(processed) == set(ids)
        for ticket_id in ids:
            stored = await fetchval(
                settings, "SELECT incident_id FROM tickets WHERE ticket_id = $1", ticket_id
            )
            assert stored is not None and processed[ticket_id]["incident_id"] == stored
        # Each ticket counted once in its incident.
        assert await fetchval(settings, members) == members_before + 3

        # Redelivered to either lane after the linking: nothing linked or passed on again; the urgent lane
        # announces nothing after the normal lane's `ticket.processed`, the normal lane republishes it.
        announced_before = len(broker.records(URGENT.name))
        await urgent_lane.process(batch)
        assert len(broker.records(INTAKE.name)) == 3
        assert len(broker.records(URGENT.name)) == announced_before
        linked_before = _linked_after_urgent()
        await BatchProcessor(pool, producer, judge, dead_letters).process(passed_on)
        assert _linked_after_urgent() == linked_before
        assert await fetchval(settings, members) == members_before + 3
        for ticket_id in ids:
            mine = [orjson.loads(m.value) for m in broker.records(EVENTS.name) if m.key == ticket_id.encode()]
            assert len(mine) == 2 and mine[0] == mine[1]
    finally:
        await pool.close()


async def test_a_sentinel_copy_and_its_original_store_one_ticket_either_way(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    broker = in_process_broker(settings)
    producer = InProcessProducer(broker)
    pool = await open_pool(settings)
    gas = "望京西园三区5号楼楼道里煤气味特别重，快派人来！"
    try:
        judge, dead_letters = Judge.load(), DeadLetters(producer, "", 100, 60)
        urgent_lane = BatchProcessor(pool, producer, judge, dead_letters, forward_to=INTAKE.name)
        normal_lane = BatchProcessor(pool, producer, judge, dead_letters)
        copy_first, original_first = f"T-{uuid.uuid4().hex}", f"T-{uuid.uuid4().hex}"

        def original(ticket_id: str, offset: int) -> BusMessage:
            return BusMessage(INTAKE.name, 0, offset, b"k", wechat_record(ticket_id, gas).to_bytes())

        def copy(ticket_id: str, offset: int) -> BusMessage:
            value = wechat_record(ticket_id, gas).to_bytes()
            return BusMessage(INTAKE_URGENT.name, 0, offset, b"k", value, [(RESCREENED_HEADER, b"i")])

        # The copy first (the normal lane is behind): stored and announced, not passed on (the original is
        # on the normal lane already), then linked when the normal lane reaches the original.
        counted, linked_before = _redelivery_counts(), _linked_after_urgent()
        await urgent_lane.process([copy(copy_first, 900_001)])
        assert [orjson.loads(m.value)["event_type"] for m in broker.records(URGENT.name)] == ["ticket.urgent"]
        assert broker.records(INTAKE.name) == []
        await normal_lane.process([original(copy_first, 900_002)])
        assert _linked_after_urgent() - linked_before == 1
        # Neither a redelivery nor a client's repeat: the same submission, by two lanes.
        assert _since(counted) == (0, 0)
        incident = "SELECT incident_id FROM tickets WHERE ticket_id = $1"
        assert await fetchval(settings, incident, copy_first) is not None

        # The original first (no backlog): the copy that follows stores and announces nothing more.
        await normal_lane.process([original(original_first, 900_003)])
        desk_before = len(broker.records(URGENT.name))
        counted = _redelivery_counts()
        await urgent_lane.process([copy(original_first, 900_004)])
        assert len(broker.records(URGENT.name)) == desk_before
        assert broker.records(INTAKE.name) == []
        assert _since(counted) == (0, 0)
        count = "SELECT count(*) FROM tickets WHERE ticket_id = ANY($1)"
        assert await fetchval(settings, count, [copy_first, original_first]) == 2
    finally:
        await pool.close()
