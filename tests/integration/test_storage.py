"""Storage at scale on the real Postgres: reversible migrations, a year of month partitions, retention.

Each test that archives months gets a database of its own, so retention never touches another test's rows.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.auth_downstream import DownstreamKeys
from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.db.engine import make_engine
from ingest.settings import REPO_ROOT, Settings
from ingest.tickets import new_ticket_id
from ingest.topics import EVENTS
from tests.conftest import migrate
from workers import store
from workers.db import asyncpg_dsn
from workers.maintenance import (
    ensure_partitions_ahead,
    month_start,
    month_states,
    partitions_kept_ahead,
    retention,
)
from workers.ticket import TicketRow

SECRET = Settings().ticket_secret
KEY = "dispatch-desk-key-0123456789"


def _dsn(url: str) -> str:
    return asyncpg_dsn(Settings(database_url=url))


def _create_database(server_url: str) -> tuple[str, str]:
    dsn = _dsn(server_url)
    base, _, _ = dsn.rpartition("/")
    name = f"jiesu_storage_{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}", name


def _drop_database(server_url: str, name: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(_dsn(server_url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    """A database of this test alone, not migrated."""
    url, name = _create_database(database_url)
    yield url
    _drop_database(database_url, name)


@pytest.fixture
def own_database(empty_database: str) -> str:
    """A database of this test alone, migrated to head."""
    migrate(empty_database)
    return empty_database


@pytest.fixture
async def conn(own_database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's own database."""
    connection = await asyncpg.connect(_dsn(own_database))
    yield connection
    await connection.close()


def _alembic(url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    return config


def _tables(url: str) -> set[str]:
    async def fetch() -> set[str]:
        c = await asyncpg.connect(_dsn(url))
        try:
            rows = await c.fetch(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            )
            return {r["relname"] for r in rows}
        finally:
            await c.close()

    return asyncio.run(fetch())


def test_migrations_upgrade_and_downgrade(empty_database: str) -> None:
    config = _alembic(empty_database)
    command.upgrade(config, "head")
    assert {"ticket_status_history", "archived_partitions", "tickets"} <= _tables(empty_database)
    command.downgrade(config, "0001")
    assert "ticket_status_history" not in _tables(empty_database)
    assert "tickets" in _tables(empty_database)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert _tables(empty_database) - {"alembic_version"} == set()
    command.upgrade(config, "head")
    assert "archived_partitions" in _tables(empty_database)


def _row(received_at: datetime, district: str = "朝阳区") -> TicketRow:
    external_id = uuid.uuid4().hex
    return TicketRow(
        ticket_id=new_ticket_id(SECRET, f"ext:web:{external_id}"),
        received_at=received_at,
        processed_at=received_at,
        status="processed",
        channel="web",
        external_id=external_id,
        title="烧烤摊噪音",
        content="望京西园三区门口的烧烤摊每天营业到凌晨两点",
        citizen_key=f"phone:{external_id[:6]}",
        district=district,
        address=None,
        category="noise",
        category_confidence=0.9,
        needs_review=False,
        review_reasons=[],
        urgency="normal",
        urgency_reason=None,
        department="城管",
        duplicate_of=None,
        incident_id=None,
        submission={"channel": "web"},
        source_partition=0,
        source_offset=0,
    )


async def _store_batch(
    conn: asyncpg.Connection, rows: list[TicketRow], known: set[datetime]
) -> list[TicketRow]:
    """The worker's batch transaction: partitions, claim, insert the new, read back the rest."""
    async with conn.transaction():
        await store.ensure_partitions(conn, rows, known)
        new_ids = await store.claim_new(conn, rows)
        await store.insert_tickets(conn, [r for r in rows if r.ticket_id in new_ids])
        earlier = await store.load_stored(conn, [r.ticket_id for r in rows if r.ticket_id not in new_ids])
    return [r for r in rows if r.ticket_id in new_ids] + earlier


async def _get_all(http: httpx.AsyncClient, params: dict[str, str]) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor: str | None = None
    for _ in range(100):
        page = await http.get("/v1/complaints", params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


async def _reads_after_archiving(database_url: str, rows: list[TicketRow]) -> None:
    """The read and status API over the year with January 2025 archived (rows: 3 a month, Jan first)."""
    settings = Settings(database_url=database_url, ticket_secret=SECRET)
    broker = in_process_broker(settings)
    app = create_app(settings, broker=broker)
    async with app.router.lifespan_context(app):
        app.state.downstream_keys = DownstreamKeys(f"dispatch:{KEY}")
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as http:
            year = await _get_all(http, {"since": "2025-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"})
            assert len(year) == 33 and len({t["ticket_id"] for t in year}) == 33
            stamps = [str(t["received_at"]) for t in year]
            assert stamps == sorted(stamps, reverse=True)
            assert stamps[-1].startswith("2025-02-10")
            summer = await _get_all(
                http, {"since": "2025-06-01T00:00:00Z", "until": "2025-09-01T00:00:00Z", "limit": "2"}
            )
            assert len(summer) == 9
            report = await http.get("/v1/reports/hourly", params={"date": "2025-03-10", "timezone": "UTC"})
            assert report.status_code == 200 and report.json()["total"] == 3
            gone = await http.get("/v1/reports/hourly", params={"date": "2025-01-10"})
            assert gone.status_code == 410
            assert gone.headers["content-type"].startswith("application/problem+json")
            moved = await http.post(
                f"/v1/complaints/{rows[3].ticket_id}/status", json={"status": "dispatched"}
            )
            assert moved.status_code == 200, moved.text
            old = await http.post(f"/v1/complaints/{rows[0].ticket_id}/status", json={"status": "dispatched"})
            assert old.status_code == 410
            # Reading an archived ticket says so (it is not `received` again), with its month.
            first = f"/v1/complaints/{rows[0].ticket_id}"
            for path in (first, f"{first}/history"):
                archived = await http.get(path)
                assert archived.status_code == 410, (path, archived.text)
                assert archived.json()["month"] == "2025-01" and "archive" in archived.json()["detail"]
            live = await http.get(f"/v1/complaints/{rows[3].ticket_id}")
            assert live.status_code == 200 and live.json()["status"] == "dispatched"
            assert (await http.get(f"/v1/complaints/{rows[3].ticket_id}/history")).status_code == 200
    assert [orjson.loads(m.value)["ticket_id"] for m in broker.records(EVENTS.name)] == [rows[3].ticket_id]


async def test_a_year_of_partitions_survives_archiving_the_oldest(
    own_database: str, conn: asyncpg.Connection
) -> None:
    # A year of months, 2025-01 … 2025-12, three tickets in each, written by the worker's write path.
    created = await ensure_partitions_ahead(conn, today=date(2025, 12, 1), ahead=0, behind=11)
    assert created == [f"tickets_2025_{m:02d}" for m in range(1, 13)]
    rows = [_row(datetime(2025, m, 10, 1 + i, tzinfo=UTC)) for m in range(1, 13) for i in range(3)]
    known: set[datetime] = set()
    assert len(await _store_batch(conn, rows, known)) == 36
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 36
    assert await conn.fetchval("SELECT count(*) FROM tickets_2025_07") == 3

    # Retention keeps 11 months before January 2026: January 2025 goes, detached concurrently.
    archived = await retention(conn, keep_months=11, today=date(2026, 1, 5))
    assert archived == {date(2025, 1, 1): 3}
    assert await conn.fetchval("SELECT to_regclass('public.tickets_2025_01')") is None
    assert await conn.fetchval("SELECT count(*) FROM archive.tickets_2025_01") == 3
    assert await conn.fetchval("SELECT count(*) FROM archive.ticket_status_history_2025_01") == 0
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 33
    assert await conn.fetchval("SELECT count(*) FROM ticket_keys") == 36  # kept: retries stay no-ops
    assert next(s.month for s in await month_states(conn)) == date(2025, 2, 1)
    # A time range prunes to its months.
    plan = "\n".join(
        r[0]
        for r in await conn.fetch(
            "EXPLAIN SELECT * FROM tickets WHERE received_at >= '2025-06-01Z' AND received_at < '2025-07-01Z'"
        )
    )
    assert "tickets_2025_06" in plan and "tickets_2025_05" not in plan and "tickets_2025_07" not in plan

    # Reads still served: the year pages through (newest first), a window prunes, the report answers.
    await _reads_after_archiving(own_database, rows)

    # Writes stay idempotent: the whole year again stores nothing and recreates no archived month; the
    # stored ones come back as stored (to be re-published), the archived ones are a no-op.
    again = await _store_batch(conn, rows, set())
    assert {r.ticket_id for r in again} == {r.ticket_id for r in rows[3:]}
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 33
    assert await conn.fetchval("SELECT to_regclass('public.tickets_2025_01')") is None
    # A new ticket for a live month is stored; one for the archived month is refused as a data error (the
    # batch dead-letters it) and leaves no key behind.
    fresh = _row(datetime(2025, 3, 20, tzinfo=UTC))
    assert [r.ticket_id for r in await _store_batch(conn, [fresh], known)] == [fresh.ticket_id]
    late = _row(datetime(2025, 1, 20, tzinfo=UTC))
    with pytest.raises(asyncpg.CheckViolationError, match="no partition"):
        await _store_batch(conn, [late], set())
    assert await conn.fetchval("SELECT count(*) FROM ticket_keys WHERE ticket_id = $1", late.ticket_id) == 0
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 34


async def test_retention_to_file_resumes_a_detached_month_and_drops_it(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await ensure_partitions_ahead(conn, today=date(2024, 3, 1), ahead=0, behind=2)
    for month in (1, 2, 3):
        await conn.execute(
            "INSERT INTO tickets (ticket_id, received_at, processed_at, status, channel, title, content, "
            "needs_review, review_reasons, urgency, submission, source_partition, source_offset) "
            "SELECT 'T' || $1::int || '-' || g, $2::timestamptz, $2::timestamptz, 'processed', 'web', 't', "
            "'c', false, '[]', 'normal', '{}', 0, g FROM generate_series(1, 4) g",
            month,
            datetime(2024, month, 5, tzinfo=UTC),
        )
    # A retention run interrupted after detaching February: the next run archives it too.
    await conn.execute("ALTER TABLE tickets DETACH PARTITION tickets_2024_02")
    states = {s.month: s.attached for s in await month_states(conn)}
    assert states[date(2024, 2, 1)] is False
    archived = await retention(conn, keep_months=1, today=date(2024, 4, 1), to="file", archive_dir=tmp_path)
    assert archived == {date(2024, 1, 1): 4, date(2024, 2, 1): 4}
    with gzip.open(tmp_path / "tickets_2024_01.csv.gz", "rt") as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("ticket_id,received_at,") and len(lines) == 5
    assert (tmp_path / "ticket_status_history_2024_02.csv.gz").exists()
    assert await conn.fetchval("SELECT to_regclass('tickets_2024_01')") is None
    assert await conn.fetchval("SELECT to_regclass('archive.tickets_2024_01')") is None
    assert await conn.fetchval("SELECT count(*) FROM tickets WHERE received_at < '2024-03-01Z'") == 0
    assert await conn.fetchval("SELECT count(*) FROM tickets_2024_03") == 4
    rows = await conn.fetch("SELECT month, row_count, location FROM archived_partitions ORDER BY month")
    assert [(r["month"], r["row_count"], r["location"]) for r in rows] == [
        (date(2024, 1, 1), 4, str(tmp_path)),
        (date(2024, 2, 1), 4, str(tmp_path)),
    ]
    # An archived month is never recreated: the partition function answers NULL for it.
    assert await conn.fetchval("SELECT jiesu_ensure_ticket_partition('2024-01-15')") is None
    assert await retention(conn, keep_months=1, today=date(2024, 4, 1)) == {}


def test_downgrade_refuses_to_drop_archived_months(empty_database: str) -> None:
    config = _alembic(empty_database)
    command.upgrade(config, "head")

    async def archive_may_2023() -> object:
        c = await asyncpg.connect(_dsn(empty_database))
        try:
            await ensure_partitions_ahead(c, today=date(2023, 5, 1), ahead=0, behind=0)
            await retention(c, keep_months=1, today=date(2023, 7, 1))
            return await c.fetchval("SELECT to_regclass('archive.tickets_2023_05')")
        finally:
            await c.close()

    assert asyncio.run(archive_may_2023()) is not None
    with pytest.raises(Exception, match="archive"):
        command.downgrade(config, "0001")
    assert "archived_partitions" in _tables(empty_database)


async def test_partitions_are_kept_ahead_and_the_commands_run(own_database: str) -> None:
    pool = await asyncpg.create_pool(_dsn(own_database), min_size=1, max_size=1)
    today = datetime.now(UTC).date()
    try:
        # The migration made last month to 3 ahead; the worker's keeper makes the 4th ahead and the rest stay.
        async with partitions_kept_ahead(pool, ahead=4, interval_s=3600), pool.acquire() as c:
            months = [s.month for s in await month_states(c)]
            assert months[-6:] == [month_start(today, shift) for shift in range(-1, 5)]
            await ensure_partitions_ahead(c, today=month_start(today, -24), ahead=0, behind=0)
    finally:
        await pool.close()
    env = {**os.environ, "DATABASE_URL": own_database, "JIESU_RETENTION_MONTHS": "1"}
    for args, expect in (
        (["partitions"], "ensured: tickets_"),
        (["retention", "--dry-run"], "would archive"),
    ):
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "workers.maintenance", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0 and expect in done.stdout, done.stderr


async def test_a_failed_statement_shows_no_parameters(database_url: str) -> None:
    engine = make_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as failed:
                await conn.execute(text("SELECT CAST(:phone AS date)"), {"phone": "13800138000"})
    finally:
        await engine.dispose()
    assert "parameters hidden" in str(failed.value)
    assert "'13800138000'" not in str(failed.value).split("[SQL:")[1]
