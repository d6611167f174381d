"""Reading the rollups (migration 0008): an hour's cells, their seasonal baseline, growing incidents.

Every query here reads the small rollup tables by their primary key's leading `hour`, or one incident's
tickets by the `tickets_incident_time` index, so it costs the same for a quiet hour as for a surge-day hour.
Unknown district or category is '' in the rollups and None here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, exists, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.db.tables import incidents, report_alerts, rollup_hourly, rollup_incident_hourly, tickets
from ingest.masking import mask_personal
from ingest.reports.hours import Hour

Cell = tuple[str | None, str | None]  # (district, category)
T = TypeVar("T")


async def read_apart(engine: AsyncEngine, query: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """`query` on a connection of its own, so that a report's independent reads can run at once."""
    async with engine.connect() as conn:
        return await query(conn, *args, **kwargs)


def known(value: str) -> str | None:
    """A rollup key column as the API shows it: '' (not known) is None."""
    return value or None


@dataclass(frozen=True)
class HourCounts:
    """An hour's tickets: in total, urgent, and per district × category cell, category and district."""

    tickets: int
    urgent: int
    cells: dict[Cell, int]
    by_category: dict[str | None, int]
    by_district: dict[str | None, int]


async def hour_counts(conn: AsyncConnection, hour: Hour) -> HourCounts:
    """The rollup counts of one hour."""
    stmt = (
        select(
            rollup_hourly.c.district,
            rollup_hourly.c.category,
            func.sum(rollup_hourly.c.tickets).label("tickets"),
            func.sum(rollup_hourly.c.urgent).label("urgent"),
        )
        .where(rollup_hourly.c.hour == hour.start)
        .group_by(rollup_hourly.c.district, rollup_hourly.c.category)
    )
    cells: dict[Cell, int] = {}
    by_category: dict[str | None, int] = defaultdict(int)
    by_district: dict[str | None, int] = defaultdict(int)
    total = urgent = 0
    for row in await conn.execute(stmt):
        count = int(row.tickets)
        district, category = known(row.district), known(row.category)
        cells[(district, category)] = count
        by_category[category] += count
        by_district[district] += count
        total += count
        urgent += int(row.urgent)
    return HourCounts(total, urgent, cells, dict(by_category), dict(by_district))


async def hour_total(conn: AsyncConnection, hour: Hour) -> int:
    """Tickets in one hour."""
    found = await conn.execute(
        select(func.coalesce(func.sum(rollup_hourly.c.tickets), 0)).where(rollup_hourly.c.hour == hour.start)
    )
    return int(found.scalar_one())


@dataclass(frozen=True)
class Baseline:
    """Mean tickets per cell over the earlier hours that had any ticket at all, and how many those were."""

    means: dict[Cell, float]
    hours: int

    def of(self, cell: Cell) -> float | None:
        """The cell's whole-hour baseline; None when there is no earlier hour to compare with."""
        if self.hours == 0:
            return None
        return self.means.get(cell, 0.0)


# The cells' sums over the earlier hours, and how many of those hours had any ticket (one index probe each).
_BASELINE = text(
    """
    SELECT district, category, sum(tickets) AS tickets,
           (SELECT count(*) FROM unnest(CAST(:hours AS timestamptz[])) AS earlier(hour)
            WHERE EXISTS (SELECT 1 FROM rollup_hourly r WHERE r.hour = earlier.hour)) AS hours
    FROM rollup_hourly
    WHERE hour = ANY(CAST(:hours AS timestamptz[]))
    GROUP BY district, category
    """
)


async def baseline(conn: AsyncConnection, earlier: list[Hour]) -> Baseline:
    """The cells' mean over `earlier` hours; an hour without a single ticket (the hotline was not on jiesu
    yet, or the rollups were not kept) is left out rather than counted as a quiet hour."""
    rows = list(await conn.execute(_BASELINE, {"hours": [h.start for h in earlier]}))
    if not rows:
        return Baseline({}, 0)
    hours = int(rows[0].hours)
    means = {(known(r.district), known(r.category)): int(r.tickets) / hours for r in rows}
    return Baseline(means, hours)


async def growing_incidents(
    conn: AsyncConnection, hour: Hour, min_growth: int, limit: int, min_size: int = 0
) -> list[dict[str, Any]]:
    """Incidents that gained at least `min_growth` tickets in the hour (and are at least `min_size` large),
    most growth first, with their summary."""
    stmt = (
        select(
            rollup_incident_hourly.c.incident_id,
            rollup_incident_hourly.c.tickets.label("growth"),
            incidents.c.title,
            incidents.c.category,
            incidents.c.district,
            incidents.c.place,
            incidents.c.size,
            incidents.c.first_seen,
        )
        .select_from(
            rollup_incident_hourly.outerjoin(
                incidents, incidents.c.incident_id == rollup_incident_hourly.c.incident_id
            )
        )
        .where(rollup_incident_hourly.c.hour == hour.start, rollup_incident_hourly.c.tickets >= min_growth)
        .where(func.coalesce(incidents.c.size, 0) >= min_size)
        .order_by(rollup_incident_hourly.c.tickets.desc(), rollup_incident_hourly.c.incident_id)
        .limit(limit)
    )
    return [incident_summary(r._mapping) for r in await conn.execute(stmt)]


def incident_summary(row: Mapping[Any, Any]) -> dict[str, Any]:
    """An incident's row as the reports show it: its title (its first ticket's) with personal numbers masked,
    as every report's texts are."""
    summary = dict(row)
    if summary.get("title"):
        summary["title"] = mask_personal(summary["title"])
    return summary


async def new_incidents(conn: AsyncConnection, hour: Hour) -> int:
    """Incidents whose first ticket came in the hour (no rollup of theirs in an earlier hour)."""
    earlier = rollup_incident_hourly.alias("earlier")
    stmt = select(func.count()).where(
        rollup_incident_hourly.c.hour == hour.start,
        ~exists().where(
            and_(
                earlier.c.incident_id == rollup_incident_hourly.c.incident_id,
                earlier.c.hour < hour.start,
            )
        ),
    )
    return int((await conn.execute(stmt)).scalar_one())


# The first few tickets of each incident in a time range, by the `tickets_incident_time` index.
_SAMPLES = """
SELECT i.incident_id, t.title, t.head
FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS i(incident_id, n)
CROSS JOIN LATERAL (
    SELECT {columns} FROM tickets
    WHERE incident_id = i.incident_id AND received_at >= :start AND received_at < :end
    ORDER BY received_at, ticket_id
    LIMIT :scan
) t
ORDER BY i.n
"""
# A ticket's title as the reports show it: WeChat messages and calls have none, so their text's first
# TITLE_CHARS characters. Read with more than that (HEAD_SQL), so that a number across the cut is masked whole
# before the cut (masking keeps the length).
TITLE_CHARS = 40
HEAD_SQL = "left(content, 64)"
_SAMPLE_QUERIES = {
    name: text(_SAMPLES.format(columns=columns))
    for name, columns in (
        ("title", f"title, {HEAD_SQL} AS head"),
        ("content", "'' AS title, content AS head"),
    )
}


def report_title(title: str | None, head: str | None) -> str:
    """The title the reports show, personal numbers masked (ingest/masking.py): the reports go to every
    downstream key and topic."""
    if title:
        return mask_personal(title)
    return mask_personal(head or "")[:TITLE_CHARS]


async def samples(
    conn: AsyncConnection,
    incident_ids: list[str],
    span: tuple[datetime, datetime],
    limit: int,
    column: str = "title",
) -> dict[str, list[str]]:
    """Up to `limit` distinct titles (or contents) of each incident's tickets within `span`, first come
    first, in one query; personal numbers masked."""
    found: dict[str, list[str]] = {incident_id: [] for incident_id in incident_ids}
    if not incident_ids:
        return found
    params = {"ids": incident_ids, "start": span[0], "end": span[1], "scan": limit * 4}
    for row in await conn.execute(_SAMPLE_QUERIES[column], params):
        texts = found[row.incident_id]
        sample = report_title(row.title, row.head) if column == "title" else mask_personal(row.head)
        if sample not in texts and len(texts) < limit:
            texts.append(sample)
    return found


# Statuses of a ticket still waiting for someone: the urgent queue.
OPEN_STATUSES = ("received", "processed", "dispatched")


async def urgent_tickets(
    conn: AsyncConnection, span: tuple[datetime, datetime], limit: int, *, open_only: bool = False
) -> list[dict[str, Any]]:
    """The critical and high tickets received within `span` with their status now (with `open_only`, those
    not yet resolved, closed or rejected), oldest first."""
    stmt = (
        select(
            tickets.c.ticket_id,
            tickets.c.received_at,
            tickets.c.urgency,
            tickets.c.urgency_situation,
            tickets.c.title,
            literal_column(HEAD_SQL).label("head"),
            tickets.c.category,
            tickets.c.district,
            tickets.c.department,
            tickets.c.status,
        )
        .where(
            tickets.c.urgency.in_(("critical", "high")),
            tickets.c.received_at >= span[0],
            tickets.c.received_at < span[1],
        )
        .order_by(tickets.c.received_at, tickets.c.ticket_id)
        .limit(limit)
    )
    if open_only:
        stmt = stmt.where(tickets.c.status.in_(OPEN_STATUSES))
    rows = [dict(r._mapping) for r in await conn.execute(stmt)]
    for row in rows:
        row["title"] = report_title(row["title"], row.pop("head"))
    return rows


async def alerts_between(
    conn: AsyncConnection, start: datetime, end: datetime, limit: int | None = None
) -> list[dict[str, Any]]:
    """The alerts the detector raised about the UTC hours starting within [start, end), in the order they
    were raised (with `limit`, the latest `limit` of them)."""
    stmt = select(report_alerts).where(report_alerts.c.hour >= start, report_alerts.c.hour < end)
    if limit is None:
        stmt = stmt.order_by(report_alerts.c.raised_at, report_alerts.c.alert_id)
        return [dict(r._mapping) for r in await conn.execute(stmt)]
    latest = stmt.order_by(report_alerts.c.raised_at.desc(), report_alerts.c.alert_id.desc()).limit(limit)
    return [dict(r._mapping) for r in reversed(list(await conn.execute(latest)))]
