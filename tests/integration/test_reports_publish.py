"""The hourly brief on complaints.reports: published once per closed hour, whoever asks twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from ingest.bus.factory import in_process_broker, make_consumer, make_producer
from ingest.db.engine import make_engine
from ingest.reports.brief import BriefOptions
from ingest.reports.hours import hour_of
from ingest.settings import Settings
from ingest.topics import REPORTS, topic_name
from tests.integration.helpers import read_topic
from workers.db import asyncpg_dsn, open_pool
from workers.rollups.publishing import publish_brief
from workers.rollups.worker import ReportsWorker


async def test_a_closed_hours_brief_is_published_once(
    kafka_bootstrap: str, fresh_database_url: str, topic_prefix: str
) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=fresh_database_url, topic_prefix=topic_prefix
    )
    hour = hour_of(datetime.now(UTC) - timedelta(hours=2), ZoneInfo("Asia/Shanghai"))
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        await conn.execute(
            "INSERT INTO rollup_hourly VALUES ($1, '海淀区', '交通管理', 'web', 7, 1)", hour.start
        )
    finally:
        await conn.close()
    engine = make_engine(settings, pool_size=3)
    producer = make_producer(settings, None, client_id="test-reports")
    await producer.start()
    try:
        options = BriefOptions.from_settings(settings)
        now = hour.end + timedelta(minutes=3)
        first = await publish_brief(engine, producer, hour, options, prefix=topic_prefix, now=now)
        second = await publish_brief(engine, producer, hour, options, prefix=topic_prefix, now=now)
    finally:
        await producer.stop()
        await engine.dispose()
    assert (first, second) == (True, False)
    records = await read_topic(kafka_bootstrap, topic_name(REPORTS, topic_prefix), expect=2, timeout_s=5)
    assert len(records) == 1
    key, value = records[0]
    brief = orjson.loads(value)
    assert key == hour.label.encode() and brief["event_type"] == "report.hourly_brief"
    assert brief["complete"] is True and brief["total"]["tickets"] == 7 and brief["total"]["urgent"] == 1
    assert brief["summary"].startswith(f"{hour.label.replace('T', ' ')}时共受理诉求7件")


async def test_the_watch_publishes_the_last_closed_hour_once_and_prunes_the_ledger(
    fresh_database_url: str,
) -> None:
    settings = Settings(
        database_url=fresh_database_url, kafka_bootstrap_servers="", report_publish_delay_s=120
    )
    broker = in_process_broker(settings)
    now = datetime(2026, 12, 7, 2, 5, tzinfo=UTC)  # 10:05 in Shanghai: 09:00–10:00 closed five minutes ago
    pool = await open_pool(settings, size=2)
    engine = make_engine(settings, pool_size=3)
    try:
        await pool.execute(
            "INSERT INTO rollup_ledger VALUES ('JSOLD', $1), ('JSNEW', $2)", now - timedelta(days=30), now
        )
        consumer = make_consumer(settings, broker, ["complaints.events"], "test-watch")
        worker = ReportsWorker(settings, consumer, pool, engine, make_producer(settings, broker, "test"))
        await worker.tick(now)
        await worker.tick(now + timedelta(seconds=15))
        left = await pool.fetchval("SELECT array_agg(ticket_id) FROM rollup_ledger")
    finally:
        await engine.dispose()
        await pool.close()
    published = broker.records(topic_name(REPORTS, ""))
    assert [m.key for m in published] == [b"2026-12-07T09"]
    assert orjson.loads(published[0].value)["complete"] is True
    assert left == ["JSNEW"]
