"""`python -m loadtest.bench.store`: rows/s of the worker's write path beside a bare COPY of the same rows.

Runs on a scratch database it creates on the DATABASE_URL server (migrated to head, dropped afterwards), in
batches like the worker's (one transaction each). Strategies, measured in alternating rounds so that a noisy
machine weighs on all alike:

- `write path`  — what the worker runs (workers/store.py): claim the keys in `ticket_keys` (INSERT … SELECT
                  FROM unnest … ON CONFLICT DO NOTHING RETURNING), then binary COPY of the new rows;
- `unnest`      — the same claim, then INSERT … SELECT FROM unnest(column arrays) ON CONFLICT DO NOTHING;
- `staging`     — COPY into a temporary staging table, then claim and insert from it in one statement;
- `bare COPY`   — COPY straight into `tickets`: no idempotency, the ceiling of what Postgres takes.

The ratio write path / bare COPY is the figure to watch; absolute rows/s depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from ingest.settings import REPO_ROOT, Settings, get_settings
from workers import store
from workers.db import asyncpg_dsn
from workers.ticket import COLUMNS, TicketRow

Strategy = Callable[[asyncpg.Connection, list[TicketRow]], Awaitable[None]]

_DISTRICTS = ["朝阳区", "海淀区", "东城区", "西城区", "丰台区", "通州区", "昌平区", "大兴区"]
_CATEGORIES = ["noise", "traffic", "sanitation", "heating", "water", "housing", "market", "other"]
_PHRASES = ["小区门口的烧烤摊", "路口红绿灯坏了", "楼上装修噪音", "暖气不热", "垃圾没人清运", "施工扬尘严重"]


def make_rows(count: int, start: datetime, seed: int = 7) -> list[TicketRow]:
    """`count` realistic ticket rows received over the month from `start`."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        received = start + timedelta(seconds=rng.randrange(0, 27 * 86400))
        district = rng.choice(_DISTRICTS)
        content = f"{district}{rng.choice(_PHRASES)}，已经持续{rng.randrange(1, 30)}天了，请尽快处理。" * 2
        rows.append(
            TicketRow(
                ticket_id=f"JSBENCH{uuid.UUID(int=rng.getrandbits(128)).hex[:19].upper()}",
                received_at=received,
                processed_at=received + timedelta(seconds=1),
                status="processed",
                channel=rng.choice(["web", "wechat", "phone"]),
                external_id=f"ext-{i}",
                title=content[:20],
                content=content,
                citizen_key=f"wx:o{rng.randrange(0, count // 3 + 1)}",
                district=district,
                address=f"{district}某路{rng.randrange(1, 300)}号",
                category=rng.choice(_CATEGORIES),
                category_confidence=rng.random(),
                needs_review=rng.random() < 0.1,
                review_reasons=[],
                urgency=rng.choice(["normal"] * 8 + ["high", "critical"]),
                urgency_reason=None,
                department="city-management",
                duplicate_of=None,
                incident_id=None,
                submission={"channel": "wechat", "content": content, "citizen": {"wechat_openid": f"o{i}"}},
                source_partition=i % 12,
                source_offset=i,
            )
        )
    return rows


async def write_path(conn: asyncpg.Connection, rows: list[TicketRow]) -> None:
    """The worker's idempotent write path (workers/store.py): claim keys, COPY the new rows."""
    new_ids = await store.claim_new(conn, rows)
    await store.insert_tickets(conn, [r for r in rows if r.ticket_id in new_ids])


_JSON_COLUMNS = {"review_reasons", "submission"}
_ARRAY_TYPES = {
    "received_at": "timestamptz",
    "processed_at": "timestamptz",
    "category_confidence": "float8",
    "needs_review": "bool",
    "source_partition": "int4",
    "source_offset": "int8",
}
# jsonb travels as text through unnest (asyncpg has no jsonb[] codec by default) and is cast back.
_UNNEST_INSERT = (
    f"INSERT INTO tickets ({', '.join(COLUMNS)}) "
    f"SELECT {', '.join(c + '::jsonb' if c in _JSON_COLUMNS else c for c in COLUMNS)} FROM unnest("
    + ", ".join(f"${i}::{_ARRAY_TYPES.get(c, 'text')}[]" for i, c in enumerate(COLUMNS, start=1))
    + f") AS t({', '.join(COLUMNS)}) ON CONFLICT DO NOTHING"
)


async def unnest_insert(conn: asyncpg.Connection, rows: list[TicketRow]) -> None:
    """Claim keys, then INSERT … SELECT FROM unnest(column arrays) ON CONFLICT (the previous write path)."""
    new_ids = await store.claim_new(conn, rows)
    records = store.copy_records([r for r in rows if r.ticket_id in new_ids])
    if records:
        await conn.execute(_UNNEST_INSERT, *(list(column) for column in zip(*records, strict=True)))


_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS ticket_stage (LIKE tickets INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_FROM_STAGE = (
    "WITH claimed AS (INSERT INTO ticket_keys (ticket_id, received_at) "
    "SELECT ticket_id, received_at FROM ticket_stage ON CONFLICT DO NOTHING RETURNING ticket_id) "
    f"INSERT INTO tickets ({', '.join(COLUMNS)}) SELECT {', '.join('s.' + c for c in COLUMNS)} "
    "FROM ticket_stage s JOIN claimed USING (ticket_id) ON CONFLICT DO NOTHING"
)


async def staging(conn: asyncpg.Connection, rows: list[TicketRow]) -> None:
    """COPY into a temporary staging table, then claim keys and insert new rows from it in one statement."""
    await conn.execute(_STAGE)
    await conn.copy_records_to_table("ticket_stage", records=store.copy_records(rows), columns=COLUMNS)
    await conn.execute(_FROM_STAGE)


async def bare_copy(conn: asyncpg.Connection, rows: list[TicketRow]) -> None:
    """COPY straight into `tickets` (not idempotent: the ceiling)."""
    await conn.copy_records_to_table("tickets", records=store.copy_records(rows), columns=COLUMNS)


STRATEGIES: dict[str, Strategy] = {
    "write path": write_path,
    "unnest": unnest_insert,
    "staging": staging,
    "bare COPY": bare_copy,
}


async def _run_once(pool: asyncpg.Pool, strategy: Strategy, rows: list[TicketRow], batch: int) -> float:
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE tickets, ticket_keys")
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for i in range(0, len(rows), batch):
            async with conn.transaction():
                await strategy(conn, rows[i : i + batch])
    return len(rows) / (time.perf_counter() - started)


async def bench(settings: Settings, count: int, batch: int, rounds: int) -> dict[str, list[float]]:
    """Rows/s of every strategy over `rounds` alternating rounds, on a scratch database."""
    from alembic import command
    from alembic.config import Config

    dsn = asyncpg_dsn(settings)
    server, _, _ = dsn.rpartition("/")
    name = f"jiesu_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        config = Config(str(REPO_ROOT / "alembic.ini"))
        config.attributes["database_url"] = f"{server}/{name}".replace(
            "postgresql://", "postgresql+asyncpg://"
        )
        await asyncio.to_thread(command.upgrade, config, "head")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        rows = make_rows(count, start)
        pool = await asyncpg.create_pool(f"{server}/{name}", min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await conn.execute("SELECT jiesu_ensure_ticket_partition($1::date)", start.date())
            results: dict[str, list[float]] = {label: [] for label in STRATEGIES}
            for _ in range(rounds):
                for label, strategy in STRATEGIES.items():
                    results[label].append(await _run_once(pool, strategy, rows, batch))
            return results
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def report(results: dict[str, list[float]], count: int, batch: int) -> str:
    """The figures as a small table, medians over the rounds, each against bare COPY."""
    ceiling = statistics.median(results["bare COPY"])
    lines = [
        f"{count} rows in batches of {batch}, {len(results['bare COPY'])} rounds (median rows/s):",
        f"{'strategy':<12} {'rows/s':>10} {'vs bare COPY':>13}",
    ]
    for label, figures in results.items():
        median = statistics.median(figures)
        lines.append(f"{label:<12} {median:>10,.0f} {median / ceiling:>12.0%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark on the DATABASE_URL server and print the table."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.store")
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=get_settings().batch_max_records)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    results = asyncio.run(bench(get_settings(), args.rows, args.batch, args.rounds))
    print(report(results, args.rows, args.batch))


if __name__ == "__main__":
    main()
