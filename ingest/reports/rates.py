"""The three rates (响应率 / 解决率 / 满意率) of the tickets received in a period, by one dimension.

Read from `tickets` over the period's months only (partition pruning on `received_at`); the follow-up call and
the first dispatch are columns of the ticket (migration 0008), written by the status API.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

Dimension = Literal["department", "district", "category"]
COUNTS = ("tickets", "due", "responded", "followed_up", "solved", "rated", "satisfied")
# (rate, numerator, denominator)
RATES = (
    ("response_rate", "responded", "due"),
    ("resolution_rate", "solved", "followed_up"),
    ("satisfaction_rate", "satisfied", "rated"),
)

_BY = """
SELECT {column} AS name,
       count(*) AS tickets,
       count(*) FILTER (WHERE dispatched_at IS NOT NULL OR received_at <= :due_before) AS due,
       count(*) FILTER (WHERE dispatched_at - received_at <= :limit) AS responded,
       count(*) FILTER (WHERE follow_up_solved IS NOT NULL) AS followed_up,
       count(*) FILTER (WHERE follow_up_solved) AS solved,
       count(*) FILTER (WHERE follow_up_satisfaction IS NOT NULL) AS rated,
       count(*) FILTER (WHERE follow_up_satisfaction IN ('satisfied', 'basically_satisfied')) AS satisfied
FROM tickets
WHERE received_at >= :since AND received_at < :until AND status <> 'rejected'
GROUP BY {column}
ORDER BY count(*) DESC, {column}
"""
_QUERIES = {column: text(_BY.format(column=column)) for column in ("department", "district", "category")}


def rate(numerator: int, denominator: int) -> float | None:
    """numerator / denominator to four places; None when there is nothing to divide."""
    return round(numerator / denominator, 4) if denominator else None


def with_rates(counts: dict[str, Any]) -> dict[str, Any]:
    """`counts` with the three rates added."""
    out = {**counts}
    for name, numerator, denominator in RATES:
        out[name] = rate(int(counts[numerator]), int(counts[denominator]))
    return out


def total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The counts of all rows together, with their rates."""
    return with_rates({name: sum(int(r[name]) for r in rows) for name in COUNTS})


async def rates_by(
    engine: AsyncEngine, since: datetime, until: datetime, by: Dimension, *, limit_hours: float, now: datetime
) -> list[dict[str, Any]]:
    """The counts and rates of each value of `by` among the tickets received in [since, until)."""
    limit = timedelta(hours=limit_hours)
    params = {"since": since, "until": until, "limit": limit, "due_before": now - limit}
    async with engine.connect() as conn:
        rows = [dict(r._mapping) for r in await conn.execute(_QUERIES[by], params)]
    return [with_rates(row) for row in rows]
