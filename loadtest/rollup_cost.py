"""`python -m loadtest.rollup_cost`: what keeping the rollups costs per ticket, on a scratch database.

Counts `--events` synthetic `ticket.processed` events (240 district × category × channel cells, one in five
in an incident, over one hour) in batches of the reports worker's size through its own code (decode, ledger
claim, upserts), then the same events again (all repeats, as after a redelivery). Prints events a second and
this process's CPU per event; the database's own CPU is not in it. The scratch database
(`jiesu_bench_rollups`) is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson

from ingest.bus import BusMessage
from ingest.settings import get_settings
from loadtest.bench.pipeline import create_database, drop_database, plain_dsn
from workers.rollups.apply import apply, decode_batch
from workers.rollups.worker import MAX_RECORDS

DATABASE = "jiesu_bench_rollups"


def _events(count: int, start: datetime) -> list[BusMessage]:
    out = []
    for n in range(count):
        ticket_id = f"JSBENCH{n:010d}"
        body = {
            "schema_version": 1,
            "event_type": "ticket.processed",
            "ticket_id": ticket_id,
            "channel": ("web", "wechat", "phone")[n % 3],
            "received_at": (start + timedelta(seconds=3600 * n / count)).isoformat(),
            "district": f"区{n % 16}",
            "category": f"类{n % 15}",
            "urgency": "critical" if n % 200 == 0 else "normal",
            "incident_id": f"inc-{n % 2000}" if n % 5 == 0 else None,
            "title": "标题",
            "content": "内容" * 40,
        }
        value = orjson.dumps(body)
        out.append(BusMessage("complaints.events", n % 6, n, ticket_id.encode(), value))
    return out


async def _run(conn: asyncpg.Connection, events: list[BusMessage]) -> tuple[float, float, int]:
    wall, cpu, counted = time.perf_counter(), time.process_time(), 0
    for i in range(0, len(events), MAX_RECORDS):
        counted += await apply(conn, decode_batch(events[i : i + MAX_RECORDS]))
    return time.perf_counter() - wall, time.process_time() - cpu, counted


async def main(count: int) -> None:
    """Seed nothing, count twice, drop."""
    admin = get_settings().database_url
    url = await create_database(admin, DATABASE)
    try:
        conn = await asyncpg.connect(plain_dsn(url))
        try:
            events = _events(count, datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
            for label, run in (("first time", events), ("again (all repeats)", events)):
                wall, cpu, counted = await _run(conn, run)
                rate = len(run) / wall
                print(
                    f"{label}: {len(run):,} events, {counted:,} counted in {wall:.2f} s = {rate:,.0f}/s; "
                    f"client CPU {cpu / len(run) * 1e6:.1f} µs an event"
                )
            rows = await conn.fetchval("SELECT count(*) FROM rollup_hourly")
            print(f"rollup_hourly rows: {rows}")
        finally:
            await conn.close()
    finally:
        await drop_database(admin, DATABASE)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m loadtest.rollup_cost", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="synthetic events to count")
    asyncio.run(main(parser.parse_args().events))
