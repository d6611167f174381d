"""每月一题 candidates: incidents of a month that came back week after week, ranked for a governance team.

An incident is already one problem at one place (the workers' grouping rule), so it is the place × problem
cluster the hotline's 每月一题 starts from. The weeks an incident was active come from the rollups (a month of
incident-hour rows); the figures of the shortlisted few come from their own tickets, by the incident index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.reports import rollups

# Tickets a department has finished with; their share is the candidates' resolution rate until the
# follow-up call (the three rates) says more.
RESOLVED_STATUSES = ("resolved", "closed")

# Tickets per incident and local week first (a hash or sort of the month's incident-hours once), then the
# incidents with enough weeks.
_RECURRING = text(
    """
    SELECT incident_id, sum(tickets) AS tickets, array_agg(week ORDER BY week) AS weeks
    FROM (
        SELECT incident_id, date_trunc('week', hour AT TIME ZONE :zone)::date AS week, sum(tickets) AS tickets
        FROM rollup_incident_hourly
        WHERE hour >= :start AND hour < :end
        GROUP BY incident_id, week
    ) weekly
    GROUP BY incident_id
    HAVING count(*) >= :min_weeks
    ORDER BY count(*) DESC, sum(tickets) DESC, incident_id
    LIMIT :limit
    """
)
_FIGURES = text(
    """
    SELECT incident_id, count(*) AS tickets, count(DISTINCT citizen_key) AS citizens,
           coalesce(array_agg(DISTINCT department) FILTER (WHERE department IS NOT NULL), '{}')
               AS departments,
           count(*) FILTER (WHERE status = ANY(CAST(:resolved AS text[]))) AS resolved
    FROM tickets
    WHERE incident_id = ANY(CAST(:ids AS text[])) AND received_at >= :start AND received_at < :end
    GROUP BY incident_id
    """
)
_REPEATERS = text(
    """
    SELECT incident_id, count(*) AS repeat_callers FROM (
        SELECT incident_id, citizen_key FROM tickets
        WHERE incident_id = ANY(CAST(:ids AS text[])) AND received_at >= :start AND received_at < :end
              AND citizen_key IS NOT NULL
        GROUP BY incident_id, citizen_key HAVING count(*) > 1
    ) repeat GROUP BY incident_id
    """
)
_SUMMARIES = text(
    """
    SELECT incident_id, title, category, district, place, size, first_seen, last_seen
    FROM incidents WHERE incident_id = ANY(CAST(:ids AS text[]))
    """
)


@dataclass(frozen=True)
class Month:
    """A local calendar month and the UTC instants it spans."""

    first: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        """Where the month starts."""
        return datetime(self.first.year, self.first.month, 1, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """Where the next month starts."""
        year, month = divmod(self.first.year * 12 + self.first.month, 12)
        return datetime(year, month + 1, 1, tzinfo=self.zone)

    @property
    def label(self) -> str:
        """`YYYY-MM`."""
        return self.first.strftime("%Y-%m")


def parse_month(value: str, zone: ZoneInfo) -> Month:
    """`YYYY-MM` as a month in `zone`; ValueError naming the expected form."""
    try:
        first = datetime.strptime(value, "%Y-%m").date()
    except ValueError as exc:
        raise ValueError(f"{value[:20]!r}: expected a month as YYYY-MM, e.g. 2026-12") from exc
    if not 1970 <= first.year <= 9998:
        raise ValueError("expected a year between 1970 and 9998")
    return Month(first, zone)


def resolution_rate(resolved: int, tickets: int) -> float | None:
    """Resolved or closed tickets over all; None without tickets."""
    return round(resolved / tickets, 4) if tickets else None


async def candidates(
    engine: AsyncEngine, month: Month, *, min_weeks: int, limit: int, samples: int
) -> list[dict[str, Any]]:
    """The month's recurring incidents, most weeks first, then most tickets, with their figures."""
    span = {"start": month.start, "end": month.end}
    async with engine.connect() as conn:
        recurring = [
            dict(r._mapping)
            for r in await conn.execute(
                _RECURRING, {**span, "zone": month.zone.key, "min_weeks": min_weeks, "limit": limit}
            )
        ]
        ids = [r["incident_id"] for r in recurring]
        if not ids:
            return []
        figures = {
            r.incident_id: r
            for r in await conn.execute(_FIGURES, {**span, "ids": ids, "resolved": list(RESOLVED_STATUSES)})
        }
        repeaters = {
            r.incident_id: r.repeat_callers for r in await conn.execute(_REPEATERS, {**span, "ids": ids})
        }
        summaries = {
            r.incident_id: rollups.incident_summary(r._mapping)
            for r in await conn.execute(_SUMMARIES, {"ids": ids})
        }
        messages = await rollups.samples(conn, ids, (month.start, month.end), samples, column="content")
    out = []
    for rank, row in enumerate(recurring, start=1):
        incident_id = row["incident_id"]
        fig = figures.get(incident_id)
        tickets = int(fig.tickets) if fig is not None else int(row["tickets"])
        resolved = int(fig.resolved) if fig is not None else 0
        out.append(
            {
                **summaries.get(incident_id, {"incident_id": incident_id}),
                "rank": rank,
                "weeks": row["weeks"],
                "tickets": tickets,
                "citizens": int(fig.citizens) if fig is not None else 0,
                "repeat_callers": int(repeaters.get(incident_id, 0)),
                "departments": sorted(fig.departments) if fig is not None else [],
                "resolved": resolved,
                "resolution_rate": resolution_rate(resolved, tickets),
                "sample_messages": messages[incident_id],
            }
        )
    return out
