"""`python -m loadtest.brief_latency`: the hourly brief's latency on a seeded scratch database.

Seeds a surge day's rollups (1.2 million tickets over 24 hours, every district × category × channel cell,
2,000 incidents an hour, the same for the baseline's previous seven days) and the measured hour's 50,000
tickets, then asks `GET /v1/reports/brief` of the measured hour `--requests` times, one at a time, through the
gateway app in process (auth, query, JSON), and prints p50 / p99 / max. It measures `GET /v1/reports/rates`
of that hour, `GET /v1/reports/monthly-issues` of its month and the detector's look at the hour too. The
scratch database (`jiesu_bench_brief`) is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.db.engine import make_engine
from ingest.reports.hours import hour_of
from ingest.settings import Settings, get_settings
from loadtest.bench.pipeline import create_database, drop_database, plain_dsn
from workers.rollups.detector import AlertRules, detect

DATABASE = "jiesu_bench_brief"
DISTRICTS = 16
CATEGORIES = 15
INCIDENTS_PER_HOUR = 2000

_SEED_ROLLUPS = """
INSERT INTO rollup_hourly (hour, district, category, channel, tickets, urgent)
SELECT h, '区' || d, '类' || c, (ARRAY['web', 'wechat', 'phone'])[ch],
       (($2::int / 720) * (0.5 + random()))::int, (random() * 2)::int
FROM generate_series($1::timestamptz - interval '8 days', $1::timestamptz + interval '23 hours',
                     interval '1 hour') h,
     generate_series(1, 16) d, generate_series(1, 15) c, generate_series(1, 3) ch
"""
_SEED_INCIDENT_ROLLUPS = """
INSERT INTO rollup_incident_hourly (hour, incident_id, tickets)
SELECT h, 'inc-' || (extract(epoch FROM h)::bigint / 3600 % 500) || '-' || i, 1 + (random() * 20)::int
FROM generate_series($1::timestamptz - interval '8 days', $1::timestamptz + interval '23 hours',
                     interval '1 hour') h,
     generate_series(1, $2::int) i
ON CONFLICT DO NOTHING
"""
_SEED_INCIDENTS = """
INSERT INTO incidents (incident_id, bucket, title, category, district, place, size, first_seen, last_seen,
                       signature)
SELECT DISTINCT ON (incident_id) incident_id, 'city', '事件' || incident_id, '类1', '区1', '某路', 50,
       $1::timestamptz - interval '1 day', $1::timestamptz, '{}'::jsonb
FROM rollup_incident_hourly
"""
_SEED_TICKETS = """
INSERT INTO tickets (ticket_id, received_at, processed_at, status, channel, title, content, district,
                     category, needs_review, review_reasons, urgency, incident_id, submission,
                     source_partition, source_offset)
SELECT 'T' || g, $1::timestamptz + g * interval '1 second' * 3600 / $2::int,
       $1::timestamptz + g * interval '1 second' * 3600 / $2::int, 'processed',
       (ARRAY['web', 'wechat', 'phone'])[1 + g % 3], '标题' || (g % 997), '内容', '区' || (1 + g % 16),
       '类' || (1 + g % 15), false, '[]'::jsonb, CASE WHEN g % 200 = 0 THEN 'critical' ELSE 'normal' END,
       'inc-' || (extract(epoch FROM $1::timestamptz)::bigint / 3600 % 500) || '-' || (1 + g % $3::int),
       '{}'::jsonb, 0, g
FROM generate_series(1, $2::int) g
"""


async def _seed(url: str, hour_start: datetime, per_day: int) -> None:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        await conn.execute("SELECT jiesu_ensure_ticket_partition($1::date)", hour_start.date())
        await conn.execute(_SEED_ROLLUPS, hour_start.replace(hour=0), per_day // 24)
        await conn.execute(_SEED_INCIDENT_ROLLUPS, hour_start.replace(hour=0), INCIDENTS_PER_HOUR)
        await conn.execute(_SEED_INCIDENTS, hour_start)
        await conn.execute(_SEED_TICKETS, hour_start, per_day // 24, INCIDENTS_PER_HOUR)
        await conn.execute("ANALYZE")
        rollups = await conn.fetchval("SELECT count(*) FROM rollup_hourly")
        incident_rows = await conn.fetchval("SELECT count(*) FROM rollup_incident_hourly")
        tickets = await conn.fetchval("SELECT count(*) FROM tickets")
        print(f"seeded: {rollups:,} rollup rows, {incident_rows:,} incident-hour rows, {tickets:,} tickets")
    finally:
        await conn.close()


def _quantiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms"


async def _timed(
    http: httpx.AsyncClient, path: str, params: dict[str, str], times: int
) -> tuple[list[float], Any]:
    """Milliseconds of `times` requests one after another (after two to warm the pools), and the last body."""
    samples = []
    for i in range(times + 2):
        started = time.perf_counter()
        resp = await http.get(path, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        resp.raise_for_status()
        if i >= 2:
            samples.append(elapsed)
    return samples, resp.json()


async def _measure(url: str, hour_start: datetime, requests: int) -> None:
    settings = Settings(database_url=url, kafka_bootstrap_servers="")
    app = create_app(settings, broker=in_process_broker(settings))
    hour = hour_of(hour_start, ZoneInfo(settings.report_timezone))
    period = {"from": hour.start.isoformat(), "to": hour.end.isoformat(), "by": "department"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            briefs, body = await _timed(http, "/v1/reports/brief", {"hour": hour.label}, requests)
            rates, totals = await _timed(http, "/v1/reports/rates", period, min(requests, 50))
            day = {"date": hour.local.date().isoformat()}
            days, day_body = await _timed(http, "/v1/reports/day", day, min(requests, 50))
            month = {"month": hour.local.strftime("%Y-%m"), "min_weeks": "1"}
            monthly, issues = await _timed(http, "/v1/reports/monthly-issues", month, 10)
    sizes = {part: len(body[part]) for part in ("rising_incidents", "hotspots", "urgent_tickets")}
    print(f"brief {hour.label}: total {body['total']['tickets']:,}, {sizes}")
    print(f"GET /v1/reports/brief x{len(briefs)}: {_quantiles(briefs)}")
    print(
        f"GET /v1/reports/rates of the hour ({totals['total']['tickets']:,} tickets) x{len(rates)}: "
        f"{_quantiles(rates)}"
    )
    print(
        f"GET /v1/reports/day {day['date']} (the dashboard's; {day_body['total']['tickets']:,} tickets, "
        f"{len(day_body['cells'])} cells) x{len(days)}: {_quantiles(days)}"
    )
    print(
        f"GET /v1/reports/monthly-issues {month['month']} ({len(issues['candidates'])} candidates) "
        f"x{len(monthly)}: {_quantiles(monthly)}"
    )
    engine = make_engine(settings, pool_size=1)
    rules = AlertRules.from_settings(settings)
    looks = []
    try:
        for _ in range(min(requests, 50)):
            started = time.perf_counter()
            async with engine.connect() as conn:
                await detect(conn, hour, rules, hour.start + timedelta(minutes=30))
            looks.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()
    print(f"detector look x{len(looks)}: {_quantiles(looks)}")


async def main(requests: int, per_day: int, keep: bool) -> None:
    """Seed, measure, drop (unless `keep`)."""
    admin = get_settings().database_url
    url = await create_database(admin, DATABASE)
    try:
        hour_start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
        started = time.perf_counter()
        await _seed(url, hour_start.replace(hour=10), per_day)
        print(f"seeding took {time.perf_counter() - started:.1f} s")
        await _measure(url, hour_start.replace(hour=10), requests)
    finally:
        if keep:
            print(f"kept the database {DATABASE}")
        else:
            await drop_database(admin, DATABASE)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m loadtest.brief_latency", description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="briefs asked for, one at a time")
    parser.add_argument("--per-day", type=int, default=1_200_000, help="tickets of the seeded day")
    parser.add_argument("--keep", action="store_true", help="leave the seeded database for a closer look")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.per_day, args.keep))
