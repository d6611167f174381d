"""The read API's queries: ticket lists with cursor paging, incidents, the hourly report, status history.

Lists are in (received_at, ticket_id) order, newest first, with an opaque cursor over that pair; a time range
(`since`/`until`, and the cursor itself) is given to Postgres as bounds on `received_at`, so only the months
it covers are scanned (partition pruning). Every filter is one of the indexed columns (migrations 0001-0002).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Select, and_, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.db.tables import archived_partitions, incidents, ticket_keys, ticket_status_history, tickets

LIST_COLUMNS = (
    "ticket_id",
    "status",
    "channel",
    "received_at",
    "processed_at",
    "status_changed_at",
    "title",
    "content",
    "district",
    "address",
    "category",
    "urgency",
    "department",
    "needs_review",
    "duplicate_of",
    "incident_id",
)


class BadCursor(ValueError):
    """The cursor was not one this API issued."""


def encode_cursor(received_at: datetime, ticket_id: str) -> str:
    """An opaque cursor after (received_at, ticket_id)."""
    raw = orjson.dumps([received_at.isoformat(), ticket_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (received_at, ticket_id) of a cursor; BadCursor when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, ticket_id = orjson.loads(raw)
        when = datetime.fromisoformat(stamp)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadCursor(cursor) from exc
    # Only what this API could have issued: a ticket id Postgres can compare (no NUL byte) and an instant
    # away from the calendar's edges, which overflow when shifted to UTC.
    if not isinstance(ticket_id, str) or "\x00" in ticket_id or when.tzinfo is None:
        raise BadCursor(cursor)
    if not 1970 <= when.year <= 9998:
        raise BadCursor(cursor)
    return when, ticket_id


@dataclass(frozen=True)
class TicketQuery:
    """Filters and paging of a ticket list."""

    since: datetime | None = None
    until: datetime | None = None
    equals: tuple[tuple[str, str], ...] = ()
    after: tuple[datetime, str] | None = None
    limit: int = 50


def _list_select(query: TicketQuery) -> Select[Any]:
    stmt = select(*(tickets.c[c] for c in LIST_COLUMNS))
    if query.since is not None:
        stmt = stmt.where(tickets.c.received_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(tickets.c.received_at < query.until)
    for column, value in query.equals:
        stmt = stmt.where(tickets.c[column] == value)
    if query.after is not None:
        received_at, ticket_id = query.after
        # The plain bound prunes the newer months; the row comparison is the exact position.
        stmt = stmt.where(
            tickets.c.received_at <= received_at,
            tuple_(tickets.c.received_at, tickets.c.ticket_id)
            < tuple_(literal(received_at), literal(ticket_id)),
        )
    return stmt.order_by(tickets.c.received_at.desc(), tickets.c.ticket_id.desc()).limit(query.limit + 1)


async def list_tickets(engine: AsyncEngine, query: TicketQuery) -> tuple[list[dict[str, Any]], str | None]:
    """One page of tickets and the cursor of the next page (None on the last)."""
    async with engine.connect() as conn:
        rows = [dict(r._mapping) for r in await conn.execute(_list_select(query))]
    if len(rows) <= query.limit:
        return rows, None
    rows = rows[: query.limit]
    return rows, encode_cursor(rows[-1]["received_at"], rows[-1]["ticket_id"])


async def find_incident(
    engine: AsyncEngine, incident_id: str, after: tuple[datetime, str] | None, limit: int
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], str | None]:
    """An incident, one page of its tickets (oldest first) and the next page's cursor."""
    async with engine.connect() as conn:
        found = (await conn.execute(select(incidents).where(incidents.c.incident_id == incident_id))).first()
        stmt = select(*(tickets.c[c] for c in LIST_COLUMNS)).where(tickets.c.incident_id == incident_id)
        if after is not None:
            stmt = stmt.where(
                tuple_(tickets.c.received_at, tickets.c.ticket_id)
                > tuple_(literal(after[0]), literal(after[1]))
            )
        stmt = stmt.order_by(tickets.c.received_at, tickets.c.ticket_id).limit(limit + 1)
        rows = [dict(r._mapping) for r in await conn.execute(stmt)]
    incident = dict(found._mapping) if found is not None else None
    if incident is None and not rows:
        return None, [], None
    if len(rows) <= limit:
        return incident, rows, None
    rows = rows[:limit]
    return incident, rows, encode_cursor(rows[-1]["received_at"], rows[-1]["ticket_id"])


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where `day` starts and ends in `zone`."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def day_archived(engine: AsyncEngine, day: date, zone: ZoneInfo) -> bool:
    """True when any part of `day` in `zone` lies in a month the retention command archived."""
    start, end = day_bounds(day, zone)
    months = {start.date().replace(day=1), (end - timedelta(microseconds=1)).date().replace(day=1)}
    async with engine.connect() as conn:
        found = await conn.execute(
            select(archived_partitions.c.month).where(archived_partitions.c.month.in_(sorted(months)))
        )
        return found.first() is not None


async def hourly_report(engine: AsyncEngine, day: date, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Ticket counts by hour × category × district × channel over `day` in `zone`."""
    start, end = day_bounds(day, zone)
    hour = func.date_trunc("hour", func.timezone(zone.key, tickets.c.received_at)).label("hour")
    stmt = (
        select(hour, tickets.c.category, tickets.c.district, tickets.c.channel, func.count().label("count"))
        .where(tickets.c.received_at >= start, tickets.c.received_at < end)
        .group_by(hour, tickets.c.category, tickets.c.district, tickets.c.channel)
        .order_by(hour, tickets.c.category, tickets.c.district, tickets.c.channel)
    )
    async with engine.connect() as conn:
        rows = [dict(r._mapping) for r in await conn.execute(stmt)]
    for row in rows:
        row["hour"] = row["hour"].replace(tzinfo=zone)  # local wall-clock time of the hour's start
    return rows


async def ticket_history(
    engine: AsyncEngine, ticket_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """A stored ticket's status fields and its status changes in order; None when not stored (or archived)."""
    async with engine.connect() as conn:
        ticket = (
            await conn.execute(
                select(
                    tickets.c.ticket_id,
                    tickets.c.status,
                    tickets.c.received_at,
                    tickets.c.processed_at,
                    tickets.c.status_changed_at,
                )
                .join(
                    ticket_keys,
                    and_(
                        ticket_keys.c.ticket_id == tickets.c.ticket_id,
                        ticket_keys.c.received_at == tickets.c.received_at,
                    ),
                )
                .where(ticket_keys.c.ticket_id == ticket_id)
            )
        ).first()
        if ticket is None:
            return None
        head = dict(ticket._mapping)
        changes = await conn.execute(
            select(ticket_status_history)
            .where(
                ticket_status_history.c.ticket_id == ticket_id,
                ticket_status_history.c.received_at == head["received_at"],
            )
            .order_by(ticket_status_history.c.seq)
        )
        return head, [dict(r._mapping) for r in changes]
