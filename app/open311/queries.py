"""Reads of stored tickets for Open311 `GET requests` (never on a submission path)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.db.tables import tickets

# Ticket statuses as Open311 sees them: everything not finished is open.
CLOSED_STATUSES = ("resolved", "closed", "rejected")
_COLUMNS = [
    tickets.c[name]
    for name in (
        "ticket_id",
        "status",
        "service_code",
        "content",
        "department",
        "received_at",
        "processed_at",
        "district",
        "address",
        "submission",
    )
]


@dataclass(frozen=True)
class RequestFilter:
    """The filters of `GET requests`: ids, submitted service codes, a received_at window, open/closed, a
    page."""

    ticket_ids: Sequence[str] = ()
    service_codes: Sequence[str] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: Sequence[str] = ()
    limit: int = 100
    offset: int = 0


async def find_requests(engine: AsyncEngine, where: RequestFilter) -> list[dict[str, Any]]:
    """Stored tickets matching `where`, newest first."""
    query = select(*_COLUMNS)
    if where.ticket_ids:
        query = query.where(tickets.c.ticket_id.in_(list(where.ticket_ids)))
    if where.service_codes:
        query = query.where(tickets.c.service_code.in_(list(where.service_codes)))
    if where.start is not None:
        query = query.where(tickets.c.received_at >= where.start)
    if where.end is not None:
        query = query.where(tickets.c.received_at <= where.end)
    if set(where.statuses) == {"closed"}:
        query = query.where(tickets.c.status.in_(CLOSED_STATUSES))
    elif set(where.statuses) == {"open"}:
        query = query.where(tickets.c.status.not_in(CLOSED_STATUSES))
    query = query.order_by(tickets.c.received_at.desc(), tickets.c.ticket_id)
    query = query.limit(where.limit).offset(where.offset)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [dict(row._mapping) for row in rows]
