"""Reads from Postgres for the API (never on the submission path)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.views import TicketView
from ingest.db.tables import tickets

_VIEW_COLUMNS = [tickets.c[name] for name in TicketView.model_fields if name in tickets.c]


async def find_ticket(engine: AsyncEngine, ticket_id: str) -> TicketView | None:
    """The stored ticket `ticket_id`, or None."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(*_VIEW_COLUMNS).where(tickets.c.ticket_id == ticket_id))).first()
    return TicketView.model_validate(dict(row._mapping)) if row else None
