"""Reconciliation against Postgres: wait for the pipeline to drain, then count every accepted ticket's rows.

The accepted ticket ids go into a temporary table once; the drain and the final counts are joins against it,
so a run of a million tickets costs a few queries, not a million.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

_COUNT_STORED = "SELECT count(DISTINCT t.ticket_id) FROM tickets t JOIN lt_accepted a USING (ticket_id)"
_OPTIONAL_COLUMNS = ("duplicate_of", "incident_id")


def asyncpg_dsn(url: str) -> str:
    """A libpq-style DSN for asyncpg from a SQLAlchemy or plain Postgres URL."""
    for prefix in ("postgresql+asyncpg://", "postgres+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


@dataclass
class Stored:
    """What Postgres holds for the run's accepted tickets."""

    accepted: int
    stored: int  # distinct accepted ids with at least one row
    missing: int
    duplicate_rows: int  # rows beyond the first, over all accepted ids
    keys: int  # accepted ids registered in ticket_keys
    drained: bool
    drain_s: float
    stored_without_202: int | None  # rows of this run's external ids whose ticket never got a 202 here
    rows: dict[str, tuple[int, str | None, str | None]] = field(default_factory=dict)
    missing_sample: list[str] = field(default_factory=list)
    columns: dict[str, bool] = field(default_factory=dict)


async def _columns(conn: asyncpg.Connection) -> dict[str, bool]:
    present = await conn.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'tickets' AND table_schema = current_schema()"
    )
    names = {r["column_name"] for r in present}
    return {c: c in names for c in _OPTIONAL_COLUMNS}


async def drain_and_count(
    database_url: str,
    accepted: set[str],
    external_id_prefix: str,
    *,
    timeout_s: float,
    stall_s: float,
    every_s: float = 1.0,
    on_poll: Callable[[int, int], None] | None = None,
) -> Stored:
    """Wait until every accepted id is stored (or the count stalls / the timeout passes); count rows."""
    started = time.monotonic()
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        await conn.execute("CREATE TEMP TABLE lt_accepted (ticket_id text PRIMARY KEY)")
        await conn.copy_records_to_table("lt_accepted", records=[(t,) for t in sorted(accepted)])
        await conn.execute("ANALYZE lt_accepted")
        stored, last_growth, last = 0, time.monotonic(), -1
        while True:
            stored = int(await conn.fetchval(_COUNT_STORED))
            if on_poll is not None:
                on_poll(stored, len(accepted))
            now = time.monotonic()
            if stored != last:
                last, last_growth = stored, now
            if stored >= len(accepted) or now - started >= timeout_s or now - last_growth >= stall_s:
                break
            await asyncio.sleep(every_s)
        drain_s = time.monotonic() - started
        return await _count(conn, accepted, external_id_prefix, stored >= len(accepted), drain_s)
    finally:
        await conn.close()


async def _count(
    conn: asyncpg.Connection, accepted: set[str], prefix: str, drained: bool, drain_s: float
) -> Stored:
    columns = await _columns(conn)
    extra = ", ".join(f"max(t.{c})" if ok else "NULL" for c, ok in columns.items())
    rows = await conn.fetch(
        f"SELECT a.ticket_id, count(t.ticket_id) AS n, {extra} "
        "FROM lt_accepted a LEFT JOIN tickets t USING (ticket_id) GROUP BY a.ticket_id"
    )
    by_id = {r[0]: (int(r[1]), r[2], r[3]) for r in rows}
    keys = int(await conn.fetchval("SELECT count(*) FROM ticket_keys k JOIN lt_accepted a USING (ticket_id)"))
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    unacknowledged = int(
        await conn.fetchval(
            "SELECT count(DISTINCT t.ticket_id) FROM tickets t WHERE t.external_id LIKE $1 "
            "AND NOT EXISTS (SELECT 1 FROM lt_accepted a WHERE a.ticket_id = t.ticket_id)",
            pattern,
        )
    )
    missing = sorted(t for t, (n, _, _) in by_id.items() if n == 0)
    return Stored(
        accepted=len(accepted),
        stored=sum(1 for n, _, _ in by_id.values() if n > 0),
        missing=len(missing),
        duplicate_rows=sum(n - 1 for n, _, _ in by_id.values() if n > 1),
        keys=keys,
        drained=drained,
        drain_s=round(drain_s, 3),
        stored_without_202=unacknowledged,
        rows=by_id,
        missing_sample=missing[:20],
        columns=columns,
    )
