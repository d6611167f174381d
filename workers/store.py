"""Storing a batch of tickets in one transaction, idempotently.

`ticket_keys` decides which tickets are new (INSERT … ON CONFLICT DO NOTHING RETURNING); only those go into
the month-partitioned `tickets`. A redelivered batch therefore inserts nothing, and the events it publishes
again are built from the rows already stored, so a ticket's event never changes on redelivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from workers.ticket import COLUMNS, TicketRow

_JSON_COLUMNS = {"review_reasons", "submission"}
_TYPES = {
    "ticket_id": "text",
    "received_at": "timestamptz",
    "processed_at": "timestamptz",
    "status": "text",
    "channel": "text",
    "external_id": "text",
    "title": "text",
    "content": "text",
    "citizen_key": "text",
    "district": "text",
    "address": "text",
    "category": "text",
    "category_confidence": "float8",
    "needs_review": "bool",
    "review_reasons": "jsonb",
    "urgency": "text",
    "urgency_reason": "text",
    "department": "text",
    "duplicate_of": "text",
    "incident_id": "text",
    "submission": "jsonb",
    "source_partition": "int4",
    "source_offset": "int8",
}
# jsonb travels as text through unnest (asyncpg has no jsonb[] codec by default) and is cast back.
_UNNEST_ARGS = ", ".join(
    f"${i}::{'text' if _TYPES[c] == 'jsonb' else _TYPES[c]}[]" for i, c in enumerate(COLUMNS, start=1)
)
_SELECT_LIST = ", ".join(f"{c}::jsonb" if _TYPES[c] == "jsonb" else c for c in COLUMNS)
_INSERT_TICKETS = (
    f"INSERT INTO tickets ({', '.join(COLUMNS)}) "
    f"SELECT {_SELECT_LIST} FROM unnest({_UNNEST_ARGS}) AS t({', '.join(COLUMNS)}) "
    "ON CONFLICT DO NOTHING"
)
_CLAIM_KEYS = (
    "INSERT INTO ticket_keys (ticket_id, received_at) SELECT * FROM unnest($1::text[], $2::timestamptz[]) "
    "ON CONFLICT DO NOTHING RETURNING ticket_id"
)
_SELECT_STORED = f"SELECT {', '.join(COLUMNS)} FROM tickets WHERE ticket_id = ANY($1::text[])"


def _column_arrays(rows: list[TicketRow]) -> list[list[Any]]:
    arrays: list[list[Any]] = [[] for _ in COLUMNS]
    for row in rows:
        values = row.as_dict()
        for i, col in enumerate(COLUMNS):
            value = values[col]
            arrays[i].append(orjson.dumps(value).decode() if col in _JSON_COLUMNS else value)
    return arrays


def _month_starts(rows: list[TicketRow]) -> set[datetime]:
    return {row.received_at.replace(day=1, hour=0, minute=0, second=0, microsecond=0) for row in rows}


async def ensure_partitions(conn: asyncpg.Connection, rows: list[TicketRow], known: set[datetime]) -> None:
    """Create the month partitions these rows need that this process has not seen yet."""
    for month in sorted(_month_starts(rows) - known):
        await conn.execute("SELECT jiesu_ensure_ticket_partition($1::date)", month.date())
        known.add(month)


async def claim_new(conn: asyncpg.Connection, rows: list[TicketRow]) -> set[str]:
    """Register the rows' ticket ids; return those not registered before (the new tickets)."""
    claimed = await conn.fetch(_CLAIM_KEYS, [r.ticket_id for r in rows], [r.received_at for r in rows])
    return {rec["ticket_id"] for rec in claimed}


async def insert_tickets(conn: asyncpg.Connection, rows: list[TicketRow]) -> None:
    """Insert rows into `tickets` in one statement."""
    if rows:
        await conn.execute(_INSERT_TICKETS, *_column_arrays(rows))


async def load_stored(conn: asyncpg.Connection, ticket_ids: list[str]) -> list[TicketRow]:
    """The stored rows of `ticket_ids` (for re-publishing redelivered tickets as they were first stored)."""
    if not ticket_ids:
        return []
    records = await conn.fetch(_SELECT_STORED, ticket_ids)
    out = []
    for rec in records:
        values = dict(rec)
        for col in _JSON_COLUMNS:
            values[col] = orjson.loads(values[col]) if isinstance(values[col], str | bytes) else values[col]
        out.append(TicketRow(**values))
    return out
