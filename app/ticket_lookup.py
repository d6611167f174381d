"""Reads from Postgres for the API (never on the submission path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.views import TicketView
from ingest.db.tables import archived_partitions, ticket_keys, tickets

_VIEW_COLUMNS = [tickets.c[name] for name in TicketView.model_fields if name in tickets.c]


@dataclass(frozen=True)
class ArchivedTicket:
    """A ticket that was stored, in a month the retention command has since taken out of `tickets`."""

    ticket_id: str
    month: date
    location: str | None  # "schema archive" or the directory of the gzipped CSV; None if not recorded

    def detail(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"ticket {self.ticket_id} was stored in {self.month:%Y-%m}, a month since archived{where}"


async def find_ticket(engine: AsyncEngine, ticket_id: str) -> TicketView | None:
    """The stored ticket `ticket_id`, or None."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(*_VIEW_COLUMNS).where(tickets.c.ticket_id == ticket_id))).first()
    return TicketView.model_validate(dict(row._mapping)) if row else None


async def find_archived(engine: AsyncEngine, ticket_id: str) -> ArchivedTicket | None:
    """`ticket_id` if it was stored but its month is no longer in `tickets`; None otherwise.

    `ticket_keys` rows outlive retention (a late retry must stay a no-op), and a key is written in the same
    transaction as its ticket row, so a key without a row means the row's month was archived. Months are the
    partitions' UTC months (migrations/0002).
    """
    month = cast(func.date_trunc("month", func.timezone("UTC", ticket_keys.c.received_at)), Date)
    query = (
        select(ticket_keys.c.ticket_id, month.label("month"), archived_partitions.c.location)
        .outerjoin(archived_partitions, archived_partitions.c.month == month)
        .outerjoin(tickets, tickets.c.ticket_id == ticket_keys.c.ticket_id)
        .where(ticket_keys.c.ticket_id == ticket_id, tickets.c.ticket_id.is_(None))
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return ArchivedTicket(row.ticket_id, row.month, row.location) if row else None
