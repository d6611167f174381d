"""Resubmission links and incident grouping in Postgres, across concurrent workers, on real messages."""

import asyncio
import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import REGISTRY

from ingest.bus import BusMessage
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessProducer
from ingest.schemas.records import IntakeRecord
from ingest.settings import Settings
from judgement_lab.dataset import RawMessage, read_raw
from loadtest.bench.records import intake_records
from loadtest.texts import Incident, paraphrase
from workers import store
from workers.batch import BatchProcessor, Decoded
from workers.db import asyncpg_dsn, open_pool
from workers.dead_letters import DeadLetters
from workers.judgement.grouping import GroupingMessage, build_engine
from workers.judgement.judge import Judge
from workers.linking import BatchLinker
from workers.ticket import TicketRow

GOLD = "messages_same_issue_gold_sample.csv"


def _record(msg: RawMessage, run: str, citizen: str | None = None) -> IntakeRecord:
    return IntakeRecord(
        ticket_id=f"{run}-{msg.id}",
        channel="web",
        external_id=msg.id,
        received_at=msg.submitted_at.replace(tzinfo=UTC),
        title=msg.title,
        content=msg.content,
        citizen_key=citizen or f"user:{run}:{msg.user}",
        trace_id=uuid.uuid4().hex,
        submission={"channel": "web"},
    )


def _batch(records: list[IntakeRecord], offset: int) -> list[BusMessage]:
    return [BusMessage("complaints.intake", 0, offset + i, b"k", r.to_bytes()) for i, r in enumerate(records)]


async def _links(settings: Settings, ticket_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        rows = await conn.fetch(
            "SELECT ticket_id, incident_id, duplicate_of FROM tickets WHERE ticket_id = ANY($1)", ticket_ids
        )
    finally:
        await conn.close()
    return {r["ticket_id"]: (r["incident_id"], r["duplicate_of"]) for r in rows}


def _pairwise_f1(truth: dict[str, int], predicted: dict[str, str | None]) -> float:
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(truth), 2):
        same_truth = truth[a] != 0 and truth[a] == truth[b]
        same_pred = predicted[a] is not None and predicted[a] == predicted[b]
        tp += same_truth and same_pred
        fp += same_pred and not same_truth
        fn += same_truth and not same_pred
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _lock_counts() -> tuple[float, float]:
    """How many times this process's workers held, and waited for, incident bucket locks so far."""
    held = REGISTRY.get_sample_value("jiesu_worker_bucket_lock_held_seconds_count") or 0.0
    waited = REGISTRY.get_sample_value("jiesu_worker_bucket_lock_wait_seconds_count") or 0.0
    return held, waited


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge.load()


async def test_one_worker_groups_exactly_like_the_offline_engine(
    fresh_database_url: str, data_dir: Path, judge: Judge
) -> None:
    """The Postgres-seeded stores must decide what the in-memory reference decides, batch after batch."""
    settings = Settings(database_url=fresh_database_url)
    gold = sorted(read_raw(data_dir, GOLD), key=lambda m: m.submitted_at)
    run = uuid.uuid4().hex[:6]
    records = [_record(m, run) for m in gold]
    offline = build_engine(judge)
    expected = {}
    for rec in records:
        result = offline.process(
            GroupingMessage(
                rec.ticket_id, rec.title, rec.content, rec.received_at, "web", None, rec.citizen_key
            )
        )
        expected[rec.ticket_id] = result.incident_id
    broker = in_process_broker(settings)
    producer = InProcessProducer(broker)
    pool = await open_pool(settings)
    try:
        processor = BatchProcessor(pool, producer, judge, DeadLetters(producer, "", 100, 60))
        for start in range(0, len(records), 4):
            await processor.process(_batch(records[start : start + 4], start))
    finally:
        await pool.close()
    stored = await _links(settings, list(expected))
    assert {tid: link[0] for tid, link in stored.items()} == expected


async def test_two_concurrent_workers_group_the_gold_sample(
    database_url: str, data_dir: Path, judge: Judge
) -> None:
    """One issue's messages split between two workers still end in one incident (bucket locks in Postgres)."""
    settings = Settings(database_url=database_url)
    gold = sorted(read_raw(data_dir, GOLD), key=lambda m: m.submitted_at)
    run = uuid.uuid4().hex[:6]
    records = [_record(m, run) for m in gold]
    broker = in_process_broker(settings)
    producer = InProcessProducer(broker)
    pool = await open_pool(settings, size=6)
    held_before, waits_before = _lock_counts()
    try:
        workers = [
            BatchProcessor(pool, producer, judge, DeadLetters(producer, "", 100, 60)) for _ in range(2)
        ]

        async def run_worker(index: int) -> None:
            mine = records[index::2]
            for start in range(0, len(mine), 3):
                await workers[index].process(_batch(mine[start : start + 3], start))

        await asyncio.gather(run_worker(0), run_worker(1))
    finally:
        await pool.close()
    # Every batch took its bucket locks once and held them to its commit: both are timed.
    batches = sum(-(-len(records[i::2]) // 3) for i in range(2))
    held_after, waits_after = _lock_counts()
    assert held_after - held_before == batches
    assert waits_after - waits_before == batches
    stored = await _links(settings, [r.ticket_id for r in records])
    truth = {f"{run}-{m.id}": m.issue_group for m in gold}
    predicted = {tid: link[0] for tid, link in stored.items()}
    assert len(stored) == len(gold)
    assert _pairwise_f1(truth, predicted) >= 0.8
    # Every incident record counts exactly its member tickets (other tests' tickets may have joined them too:
    # the database is shared within the session, and so are the buckets).
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        for incident_id in {p for p in predicted.values() if p}:
            size = await conn.fetchval("SELECT size FROM incidents WHERE incident_id = $1", incident_id)
            members = await conn.fetchval("SELECT count(*) FROM tickets WHERE incident_id = $1", incident_id)
            assert size == members
    finally:
        await conn.close()


async def _process_in_two_batches(
    settings: Settings, judge: Judge, records: list[IntakeRecord], first: int
) -> None:
    """One worker's BatchProcessor on the real Postgres: records[:first], then the rest."""
    producer = InProcessProducer(in_process_broker(settings))
    pool = await open_pool(settings)
    try:
        processor = BatchProcessor(pool, producer, judge, DeadLetters(producer, "", 100, 60))
        await processor.process(_batch(records[:first], 0))
        await processor.process(_batch(records[first:], first))
    finally:
        await pool.close()


async def test_a_resubmission_links_to_the_first_ticket(database_url: str, judge: Judge) -> None:
    settings = Settings(database_url=database_url)
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    text = "朝阳区望京西园三区门口的烧烤摊每天营业到凌晨两点，油烟和噪音很大，严重影响居民休息。"
    first = RawMessage("1", "u", "烧烤摊噪音扰民", text, now)
    again = RawMessage("2", "u", "烧烤摊噪音扰民", text + "急需处理！", now + timedelta(minutes=5))
    other = RawMessage("3", "u", "小区停车难", "望京西园三区小区停车位严重不足，晚上回家找不到车位。", now)
    citizen = f"tel:{run}"
    records = [_record(m, run, citizen) for m in (first, other, again)]
    await _process_in_two_batches(settings, judge, records, 2)
    links = await _links(settings, [r.ticket_id for r in records])
    first_id, other_id, again_id = (r.ticket_id for r in records)
    assert links[again_id] == (links[first_id][0], first_id)
    assert links[first_id][1] is None and links[other_id][1] is None


async def test_a_repeat_through_another_channel_links_by_its_words(database_url: str, judge: Judge) -> None:
    """A WeChat post, then the same words on a phone call (another citizen key) saying it is a repeat."""
    settings = Settings(database_url=database_url)
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    text = f"海淀区学院路{run}号院门口的垃圾桶满了没人清理三天了，气味很大，招来很多蚊蝇。请尽快处理"
    # The caller reads the same words, without punctuation, and adds the address at the end.
    repeat = "喂您好，我之前反映过，" + text.replace("，", "") + "，学院路3号院"
    messages = [
        (RawMessage("1", "u", "", text, now), f"wx:{run}"),
        (RawMessage("2", "u", "", repeat, now + timedelta(hours=2)), f"tel:{run}"),
        # A neighbour with the same complaint in the same words, not saying it is a repeat: not linked.
        (RawMessage("3", "u", "", text, now + timedelta(hours=3)), f"tel:{run}:2"),
        # A third citizen's repeat now matches two citizens' originals: neither is chosen.
        (RawMessage("4", "u", "", "再次反映：" + text, now + timedelta(hours=4)), f"tel:{run}:3"),
    ]
    records = [_record(m, run, citizen) for m, citizen in messages]
    await _process_in_two_batches(settings, judge, records, 1)
    links = await _links(settings, [r.ticket_id for r in records])
    first_id, again_id, neighbour_id, third_id = (r.ticket_id for r in records)
    assert links[again_id] == (links[first_id][0], first_id)
    assert links[neighbour_id][1] is None and links[third_id][1] is None


async def test_one_worker_groups_like_the_offline_engine_at_bench_scale(
    fresh_database_url: str, judge: Judge
) -> None:
    """Thousands of messages of one city (each retrieval key's posting far over the 64 candidates): the
    worker's incidents, kept in memory across batches, must still decide what the offline engine decides."""
    settings = Settings(database_url=fresh_database_url)
    records = intake_records(3000, uuid.uuid4().hex[:6])
    offline = build_engine(judge)
    batches = [records[start : start + 250] for start in range(0, len(records), 250)]
    expected = {}
    for batch in batches:
        for rec in sorted(batch, key=lambda r: (r.received_at, r.ticket_id)):
            result = offline.process(
                GroupingMessage(
                    rec.ticket_id, rec.title, rec.content, rec.received_at, rec.channel, rec.district,
                    rec.citizen_key,
                )
            )  # fmt: skip
            expected[rec.ticket_id] = (result.incident_id, result.duplicate_of)
    # A merge later in the run moves earlier tickets to the surviving incident, offline as in Postgres.
    expected = {t: (offline.resolve(incident), dup) for t, (incident, dup) in expected.items()}
    # Grouping happened (the simulator's everyday texts repeat 15 problems over ~100 estates and 16 districts,
    # and one problem at one site is one incident), and every common word's posting is long.
    assert len(set(expected.values())) < 0.8 * len(records)
    broker = in_process_broker(settings)
    producer = InProcessProducer(broker)
    pool = await open_pool(settings)
    try:
        processor = BatchProcessor(pool, producer, judge, DeadLetters(producer, "", 100, 60))
        offset = 0
        for batch in batches:
            await processor.process(_batch(batch, offset))
            offset += len(batch)
    finally:
        await pool.close()
    assert await _links(settings, list(expected)) == expected


def _rows(judge: Judge, records: list[IntakeRecord], now: datetime) -> list[TicketRow]:
    verdicts = judge.judge_many([(r.title, r.content, r.district) for r in records])
    return [
        BatchProcessor._row(Decoded(m, r), v, now)
        for m, r, v in zip(_batch(records, 0), records, verdicts, strict=True)
    ]


def _same_text(run: str, n: int, citizen: str, district: str | None, now: datetime) -> IntakeRecord:
    return IntakeRecord(
        ticket_id=f"{run}-{n}", channel="web", external_id=f"{run}-{n}",
        received_at=now + timedelta(minutes=n),
        title="井盖缺失", content=f"{run}新华路88号门口的井盖丢失多日，夜里行人很容易掉进去，非常危险。",
        district=district, citizen_key=citizen, trace_id=uuid.uuid4().hex, submission={"channel": "web"},
    )  # fmt: skip


async def test_a_resubmission_into_another_bucket_sees_the_other_workers_changes(
    fresh_database_url: str, judge: Judge
) -> None:
    """A resubmission naming another city follows its first ticket into a bucket the batch did not lock for
    itself: the incident there must be read as it is now, not as this worker last saw it."""
    settings = Settings(database_url=fresh_database_url)
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    first = _same_text(run, 1, f"tel:{run}:1", None, now)  # no city: the hotline's own, bucket A
    other = _same_text(run, 2, f"tel:{run}:2", None, now)  # another citizen, same problem
    again = _same_text(run, 3, f"tel:{run}:1", "B3区", now)  # the first citizen again, naming city B
    one, two = BatchLinker(judge), BatchLinker(judge)  # two workers, each with its own memory
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        for linker, record in ((one, first), (two, other), (one, again)):
            [row] = _rows(judge, [record], now)
            async with conn.transaction():
                await store.claim_new(conn, [row])
                link = (await linker.link(conn, [row]))[record.ticket_id]
                row.duplicate_of, row.incident_id = link.duplicate_of, link.incident_id
                await store.insert_tickets(conn, [row])
            linker.confirm()
        assert link.duplicate_of == first.ticket_id and link.incident_id == f"inc-{first.ticket_id}"
        size = await conn.fetchval("SELECT size FROM incidents WHERE incident_id = $1", link.incident_id)
        assert size == 3
    finally:
        await conn.close()


async def test_a_rolled_back_batch_leaves_no_incident_in_memory(
    fresh_database_url: str, judge: Judge
) -> None:
    """What a batch grouped in memory counts only once its transaction commits: after a rollback the next
    message must not join an incident Postgres never stored."""
    settings = Settings(database_url=fresh_database_url)
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    title, content = "井盖缺失", f"{run}区新华路88号门口的井盖丢失多日，夜里行人很容易掉进去，非常危险。"
    first, second = (
        IntakeRecord(
            ticket_id=f"{run}-{i}", channel="web", external_id=f"{run}-{i}",
            received_at=now + timedelta(minutes=i), title=title, content=content,
            citizen_key=f"tel:{run}:{i}", trace_id=uuid.uuid4().hex, submission={"channel": "web"},
        )
        for i in (1, 2)
    )  # fmt: skip
    linker = BatchLinker(judge)
    rows = _rows(judge, [first, second], now)
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        tx = conn.transaction()
        await tx.start()
        assert (await linker.link(conn, rows[:1]))[first.ticket_id].created_incident
        await tx.rollback()
        async with conn.transaction():
            link = (await linker.link(conn, rows[1:]))[second.ticket_id]
        linker.confirm()
        assert link.created_incident and link.incident_id == f"inc-{second.ticket_id}"
        stored = await conn.fetchval(
            "SELECT count(*) FROM incidents WHERE incident_id = $1", link.incident_id
        )
        assert stored == 1
    finally:
        await conn.close()


async def test_incidents_merged_by_one_worker_are_one_for_the_other(
    fresh_database_url: str, judge: Judge
) -> None:
    """A burst's paraphrases, batches taken in turn by two workers: the offline engine founds two incidents
    and merges them when later reports show they are one. The stored tickets must end as the offline engine
    resolves them (the merged incident's tickets moved to the survivor), the merged row must name its
    survivor, and the survivor's size must count every ticket: the other worker learns of the merge from
    Postgres, not from its own memory."""
    settings = Settings(database_url=fresh_database_url)
    run = uuid.uuid4().hex[:6]
    burst = Incident("water", "朝阳区", "望京花园", "朝阳北路")
    rng = random.Random(3)  # a seed whose reports found two incidents before one merges them
    t0 = datetime(2026, 12, 1, 19, 30, tzinfo=UTC)
    records = []
    for i in range(120):
        text = paraphrase(burst, rng)
        records.append(
            IntakeRecord(
                ticket_id=f"{run}-{i:03d}",
                channel="wechat",
                external_id=f"{run}-{i:03d}",
                received_at=t0 + timedelta(seconds=i),
                title=text.title,
                content=text.content,
                district=text.district,
                citizen_key=f"wx:{run}:{i}",
                trace_id=uuid.uuid4().hex,
                submission={"channel": "wechat"},
            )
        )
    offline = build_engine(judge)
    results = [
        offline.process(
            GroupingMessage(
                r.ticket_id, r.title, r.content, r.received_at, r.channel, r.district, r.citizen_key
            )
        )
        for r in records
    ]
    assert sum(len(r.merged) for r in results) >= 1, "the precondition: the offline engine merges"
    expected = {r.id: (offline.resolve(r.incident_id), None) for r in results}
    producer = InProcessProducer(in_process_broker(settings))
    pool = await open_pool(settings)
    try:
        workers = [
            BatchProcessor(pool, producer, judge, DeadLetters(producer, "", 100, 60)) for _ in range(2)
        ]
        for n, start in enumerate(range(0, len(records), 10)):
            await workers[n % 2].process(_batch(records[start : start + 10], start))
    finally:
        await pool.close()
    assert await _links(settings, list(expected)) == expected
    (survivor,) = {incident for incident, _ in expected.values()}
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        rows = await conn.fetch(
            "SELECT incident_id, size, merged_into FROM incidents WHERE incident_id = ANY($1)",
            sorted({r.incident_id for r in results} | {survivor}),
        )
    finally:
        await conn.close()
    by_id = {r["incident_id"]: r for r in rows}
    assert by_id[survivor]["merged_into"] is None and by_id[survivor]["size"] == len(records)
    merged = [r for r in rows if r["incident_id"] != survivor]
    assert merged and all(r["merged_into"] == survivor for r in merged)


async def test_a_repeat_grouped_before_its_original_is_linked_when_the_original_comes(
    fresh_database_url: str, judge: Judge
) -> None:
    """A citizen wrote on WeChat, then called to say it again; the call's partition was ahead, so the repeat
    was grouped first and found nothing. When the WeChat original is grouped, the repeat gets it as its
    `duplicate_of`, and the original joins the repeat's incident."""
    settings = Settings(database_url=fresh_database_url)
    run = uuid.uuid4().hex[:6]
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    words = "朝阳区望京西园三区门口的路灯坏了一个多星期了，晚上出行很不安全，请相关部门尽快处理。"

    def record(n: int, content: str, at: datetime, citizen: str) -> IntakeRecord:
        return IntakeRecord(
            ticket_id=f"{run}-{n}",
            channel="wechat" if citizen.startswith("wx:") else "phone",
            external_id=f"{run}-{n}",
            received_at=at,
            title="",
            content=content,
            citizen_key=citizen,
            trace_id=uuid.uuid4().hex,
            submission={"channel": "wechat"},
        )

    original = record(1, words, t0, f"wx:{run}")
    repeat = record(2, "再次反映：" + words, t0 + timedelta(minutes=40), f"tel:{run}")
    producer = InProcessProducer(in_process_broker(settings))
    pool = await open_pool(settings)
    try:
        first, second = (
            BatchProcessor(pool, producer, judge, DeadLetters(producer, "", 100, 60)) for _ in "ab"
        )
        await first.process(_batch([repeat], 0))
        before = await _links(settings, [repeat.ticket_id])
        assert before[repeat.ticket_id][1] is None  # the precondition: nothing to link to yet
        await second.process(_batch([original], 0))
    finally:
        await pool.close()
    after = await _links(settings, [original.ticket_id, repeat.ticket_id])
    assert after[repeat.ticket_id] == (before[repeat.ticket_id][0], original.ticket_id)
    assert after[original.ticket_id] == (before[repeat.ticket_id][0], None)
