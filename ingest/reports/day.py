"""A local day from the rollups, as the live dashboard shows it: volume by hour against the same day a week
earlier, the district × category cells, the open urgent tickets and the alerts.

Every read is a range of the rollups' leading `hour` (or the partial urgent index of `tickets`), so a
surge day costs what a quiet one does: at most 24 hours × the cells of an hour.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.db.tables import rollup_hourly
from ingest.reports import rollups
from ingest.reports.hours import HOUR, Hour, hour_of, local_hour
from ingest.reports.rollups import read_apart
from ingest.reports.scoring import change
from ingest.schemas.reports import AlertRaised, DayCell, DayHour, DayReport, DayTotal, UrgentTicket


@dataclass(frozen=True)
class DayOptions:
    """How much of the day's lists the page gets."""

    urgent_limit: int = 50
    alerts_limit: int = 50


def day_hours(day: date, zone: ZoneInfo) -> list[Hour]:
    """The local hours of `day` in `zone`, midnight to midnight (23 or 25 across a DST change);
    NotWholeHour when the zone is not a whole number of hours from UTC."""
    start = local_hour(datetime(day.year, day.month, day.day), zone).start
    end = local_hour(datetime.combine(day + timedelta(days=1), datetime.min.time()), zone).start
    count = int((end - start) / HOUR)
    return [hour_of(start + k * HOUR, zone) for k in range(count)]


async def hour_totals(
    conn: AsyncConnection, start: datetime, end: datetime
) -> dict[datetime, tuple[int, int]]:
    """Tickets and urgent tickets of each UTC hour within [start, end) that has any."""
    stmt = (
        select(
            rollup_hourly.c.hour,
            func.sum(rollup_hourly.c.tickets).label("tickets"),
            func.sum(rollup_hourly.c.urgent).label("urgent"),
        )
        .where(rollup_hourly.c.hour >= start, rollup_hourly.c.hour < end)
        .group_by(rollup_hourly.c.hour)
    )
    return {row.hour: (int(row.tickets), int(row.urgent)) for row in await conn.execute(stmt)}


async def cells(conn: AsyncConnection, start: datetime, end: datetime) -> list[DayCell]:
    """The district × category cells of [start, end), most tickets first."""
    stmt = (
        select(
            rollup_hourly.c.district,
            rollup_hourly.c.category,
            func.sum(rollup_hourly.c.tickets).label("tickets"),
        )
        .where(rollup_hourly.c.hour >= start, rollup_hourly.c.hour < end)
        .group_by(rollup_hourly.c.district, rollup_hourly.c.category)
    )
    found = [
        DayCell(
            district=rollups.known(r.district), category=rollups.known(r.category), tickets=int(r.tickets)
        )
        for r in await conn.execute(stmt)
    ]
    found.sort(key=lambda c: (-c.tickets, c.district or "", c.category or ""))
    return found


async def build_day(
    engine: AsyncEngine, day: date, zone: ZoneInfo, options: DayOptions, now: datetime
) -> DayReport:
    """The dashboard's figures of local `day` as the rollups stand at `now`."""
    hours = day_hours(day, zone)
    before = day_hours(day - timedelta(days=7), zone)
    span = (hours[0].start, hours[-1].end)

    # Independent reads on their own connections at once: the answer waits for the slowest, not the sum.
    async with asyncio.TaskGroup() as group:
        today_read = group.create_task(read_apart(engine, hour_totals, *span))
        before_read = group.create_task(read_apart(engine, hour_totals, before[0].start, before[-1].end))
        cells_read = group.create_task(read_apart(engine, cells, *span))
        urgent_read = group.create_task(
            read_apart(engine, rollups.urgent_tickets, span, options.urgent_limit, open_only=True)
        )
        alerts_read = group.create_task(
            read_apart(engine, rollups.alerts_between, *span, options.alerts_limit)
        )
    today, earlier = today_read.result(), before_read.result()
    rows = []
    for k, hour in enumerate(hours):
        tickets, urgent = today.get(hour.start, (0, 0))
        week_before = earlier.get(before[k].start, (0, 0))[0] if k < len(before) else 0
        rows.append(
            DayHour(
                hour=hour.local.strftime("%H"),
                start=hour.start,
                tickets=tickets,
                urgent=urgent,
                week_before=week_before,
                elapsed=hour.start <= now,
            )
        )
    so_far = [row for row in rows if row.elapsed]
    tickets = sum(row.tickets for row in so_far)
    week_before = sum(row.week_before for row in so_far)
    return DayReport(
        date=day,
        timezone=zone.key,
        start=span[0],
        end=span[1],
        complete=span[1] <= now,
        generated_at=now,
        total=DayTotal(
            tickets=tickets,
            urgent=sum(row.urgent for row in so_far),
            week_before=week_before,
            change=change(tickets, week_before),
        ),
        hours=rows,
        cells=cells_read.result(),
        urgent_open=[UrgentTicket.model_validate(row) for row in urgent_read.result()],
        alerts=[AlertRaised.model_validate(row) for row in alerts_read.result()],
    )
