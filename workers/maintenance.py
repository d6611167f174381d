"""Month partitions of `tickets`: created ahead of time, and archived after the retention period.

`python -m workers.maintenance partitions` creates the months from last month to `JIESU_PARTITIONS_AHEAD`
months ahead (idempotent); workers do the same at start-up and daily (`keep_partitions_ahead`).

`python -m workers.maintenance retention` takes every month older than `JIESU_RETENTION_MONTHS` out of
`tickets` and `ticket_status_history` without downtime — `DETACH PARTITION … CONCURRENTLY` lets reads and
writes go on — then archives it: moved to the `archive` schema (default, still queryable and re-attachable),
or with `--to file` written as gzipped CSV under `--archive-dir` and dropped. An interrupted run is resumed by
the next one (a pending detach is finalised; a detached month is archived). `ticket_keys` rows are kept, so a
late retry of an archived ticket stays a no-op instead of becoming a second ticket (docs/storage.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import asyncpg

from ingest.settings import Settings, get_settings
from workers.db import asyncpg_dsn
from workers.store import ensure_month

log = logging.getLogger("jiesu.maintenance")

PARENTS = ("tickets", "ticket_status_history")
ArchiveTo = Literal["schema", "file"]


def month_start(day: date, shift: int = 0) -> date:
    """The first day of `day`'s month, `shift` months later (earlier when negative)."""
    index = day.year * 12 + day.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def suffix(month: date) -> str:
    """`2026_01` for January 2026: the partitions' name suffix."""
    return f"{month.year:04d}_{month.month:02d}"


async def ensure_partitions_ahead(
    conn: asyncpg.Connection, today: date | None = None, ahead: int = 3, behind: int = 1
) -> list[str]:
    """Create the month partitions from `behind` months ago to `ahead` months on; return the tickets ones."""
    today = today or datetime.now(UTC).date()
    names = []
    for shift in range(-behind, ahead + 1):
        name = await ensure_month(conn, month_start(today, shift))
        if name:
            names.append(name)
    return names


@asynccontextmanager
async def partitions_kept_ahead(
    pool: asyncpg.Pool, ahead: int = 3, interval_s: float = 86400.0
) -> AsyncIterator[None]:
    """Ensure the partitions ahead now, then every `interval_s` in the background while the block runs."""

    async def once() -> None:
        # Never fatal: the worker also creates a month on its first write to it; the next round tries again.
        try:
            async with pool.acquire() as conn:
                await ensure_partitions_ahead(conn, ahead=ahead)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not create partitions ahead", extra={"error": str(exc)})

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval_s)
            await once()

    await once()
    task = asyncio.create_task(loop(), name="partitions-ahead")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


@dataclass(frozen=True)
class MonthState:
    """Where one month's partitions stand: attached, being detached, or detached awaiting archiving."""

    month: date
    attached: bool
    detach_pending: bool


_MONTHS = """
SELECT c.relname, i.inhrelid IS NOT NULL AS attached, coalesce(i.inhdetachpending, false) AS pending
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
WHERE c.relkind = 'r' AND c.relname ~ '^tickets_[0-9]{4}_[0-9]{2}$'
ORDER BY c.relname
"""


async def month_states(conn: asyncpg.Connection) -> list[MonthState]:
    """Every month that has a `tickets` partition in the current schema, attached or not, oldest first."""
    out = []
    for rec in await conn.fetch(_MONTHS):
        year, month = rec["relname"].removeprefix("tickets_").split("_")
        out.append(MonthState(date(int(year), int(month), 1), rec["attached"], rec["pending"]))
    return out


async def _detach(conn: asyncpg.Connection, parent: str, table: str) -> None:
    row = await conn.fetchrow(
        "SELECT i.inhdetachpending FROM pg_inherits i WHERE i.inhrelid = to_regclass($1) "
        "AND i.inhparent = $2::regclass",
        table,
        parent,
    )
    if row is None:
        return  # already detached (or missing)
    how = "FINALIZE" if row["inhdetachpending"] else "CONCURRENTLY"
    # Not in a transaction: DETACH … CONCURRENTLY runs in two of its own and never blocks reads or writes.
    await conn.execute(f'ALTER TABLE {parent} DETACH PARTITION "{table}" {how}')


def _fsync_and_rename(tmp: Path, path: Path) -> None:
    with tmp.open("rb") as done:
        os.fsync(done.fileno())
    tmp.replace(path)


async def _copy_out(conn: asyncpg.Connection, table: str, path: Path) -> None:
    # Written beside the target and renamed when complete and on disk, so a file that exists is whole.
    tmp = path.with_suffix(path.suffix + ".part")
    with gzip.open(tmp, "wb") as sink:

        async def write(chunk: bytes) -> None:
            sink.write(chunk)

        await conn.copy_from_table(table, output=write, format="csv", header=True)
    await asyncio.to_thread(_fsync_and_rename, tmp, path)


async def archive_month(
    conn: asyncpg.Connection, month: date, to: ArchiveTo = "schema", archive_dir: Path | None = None
) -> int:
    """Detach `month` from both parents and archive it; return its ticket count."""
    tables = [f"{parent}_{suffix(month)}" for parent in PARENTS]
    for parent, table in zip(PARENTS, tables, strict=True):
        if await conn.fetchval("SELECT to_regclass($1)", table) is not None:
            await _detach(conn, parent, table)
    present = [t for t in tables if await conn.fetchval("SELECT to_regclass($1)", t) is not None]
    count = int(await conn.fetchval(f'SELECT count(*) FROM "{tables[0]}"')) if tables[0] in present else 0
    if to == "file":
        if archive_dir is None:
            raise ValueError("--to file needs an archive directory")
        await asyncio.to_thread(archive_dir.mkdir, parents=True, exist_ok=True)
        for table in present:
            await _copy_out(conn, table, archive_dir / f"{table}.csv.gz")
        location = str(archive_dir)
    else:
        location = "schema archive"
    async with conn.transaction():
        for table in present:
            if to == "file":
                await conn.execute(f'DROP TABLE "{table}"')
            else:
                await conn.execute(f'ALTER TABLE "{table}" SET SCHEMA archive')
        await conn.execute(
            "INSERT INTO archived_partitions (month, tables, row_count, location) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (month) DO UPDATE SET tables = archived_partitions.tables || excluded.tables, "
            "row_count = archived_partitions.row_count + excluded.row_count",
            month,
            present,
            count,
            location,
        )
    log.info("archived a month", extra={"month": month.isoformat(), "tickets": count, "to": location})
    return count


async def retention(
    conn: asyncpg.Connection,
    keep_months: int,
    *,
    today: date | None = None,
    to: ArchiveTo = "schema",
    archive_dir: Path | None = None,
    dry_run: bool = False,
) -> dict[date, int]:
    """Archive every month that ended more than `keep_months` months before this one; {month: tickets}."""
    today = today or datetime.now(UTC).date()
    cutoff = month_start(today, -keep_months)
    due = [state.month for state in await month_states(conn) if state.month < cutoff]
    if dry_run:
        return dict.fromkeys(due, -1)
    return {month: await archive_month(conn, month, to, archive_dir) for month in due}


async def _main(args: argparse.Namespace, config: Settings) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(get_settings()))
    try:
        await conn.execute("SET lock_timeout = '60s'")
        if args.command == "partitions":
            names = await ensure_partitions_ahead(conn, ahead=args.ahead or config.partitions_ahead)
            for state in await month_states(conn):
                print(f"{state.month:%Y-%m}\t{'attached' if state.attached else 'detached'}")
            print(f"ensured: {', '.join(names)}")
            return
        archive_dir = (
            Path(args.archive_dir or config.archive_dir) if (args.archive_dir or config.archive_dir) else None
        )
        done = await retention(
            conn,
            args.keep_months or config.retention_months,
            to=args.to,
            archive_dir=archive_dir,
            dry_run=args.dry_run,
        )
        verb = "would archive" if args.dry_run else "archived"
        for month, count in done.items():
            print(f"{verb} {month:%Y-%m}" + (f": {count} tickets" if count >= 0 else ""))
        if not done:
            print("nothing to archive")
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    """`partitions` creates the months ahead; `retention` archives the months past the retention period."""
    parser = argparse.ArgumentParser(prog="python -m workers.maintenance")
    sub = parser.add_subparsers(dest="command", required=True)
    parts = sub.add_parser("partitions", help="create month partitions ahead of now")
    parts.add_argument("--ahead", type=int, default=0, help="months ahead (default JIESU_PARTITIONS_AHEAD)")
    keep = sub.add_parser("retention", help="detach and archive months older than the retention period")
    keep.add_argument("--keep-months", type=int, default=0, help="default JIESU_RETENTION_MONTHS")
    keep.add_argument("--to", choices=["schema", "file"], default="schema")
    keep.add_argument("--archive-dir", default="", help="for --to file (default JIESU_ARCHIVE_DIR)")
    keep.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main(args, get_settings()))


if __name__ == "__main__":
    main()
