"""Storing a batch of tickets in one transaction, idempotently, with one round trip per table.

`ticket_keys` decides which tickets are new (INSERT … ON CONFLICT DO NOTHING RETURNING); only those go into
the month-partitioned `tickets`, by binary COPY. A redelivered batch therefore inserts nothing, and the events
it publishes again are built from the rows already stored, so a ticket's event never changes on redelivery.

COPY of the claimed rows was the fastest idempotent path measured (`python -m loadtest.bench.store`): faster
than INSERT … SELECT FROM unnest(arrays) and than COPY into a staging table + INSERT … ON CONFLICT
(docs/storage.md).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg
import orjson

from workers.ticket import COLUMNS, TicketRow

_JSON_COLUMNS = {"review_reasons", "submission"}
_CLAIM_KEYS = (
    "INSERT INTO ticket_keys (ticket_id, received_at) SELECT * FROM unnest($1::text[], $2::timestamptz[]) "
    "ON CONFLICT DO NOTHING RETURNING ticket_id"
)
# Through ticket_keys, so that each id probes only its own month's partition (run-time pruning).
_SELECT_STORED = (
    f"SELECT {', '.join('t.' + c for c in COLUMNS)} FROM ticket_keys k "
    "JOIN tickets t ON t.ticket_id = k.ticket_id AND t.received_at = k.received_at "
    "WHERE k.ticket_id = ANY($1::text[])"
)


def copy_records(rows: list[TicketRow]) -> list[tuple[Any, ...]]:
    """The rows as COPY records in COLUMNS order, jsonb as text."""
    # Attribute access, not dataclasses.asdict: asdict deep-copies every submission, which made the client
    # side of the write path twice as slow.
    json_at = [c in _JSON_COLUMNS for c in COLUMNS]
    return [
        tuple(
            orjson.dumps(value).decode() if is_json else value
            for value, is_json in zip((getattr(row, c) for c in COLUMNS), json_at, strict=True)
        )
        for row in rows
    ]


# The urgent lane stores its tickets before they are linked (incident_id NULL); the normal lane links them
# later. Row locks, so that two workers (the old and new owner of a partition during a rebalance) never link
# the same ticket twice: the second waits, then finds it linked.
_LOCK_UNLINKED = (
    "SELECT t.ticket_id FROM tickets t "
    "JOIN unnest($1::text[], $2::timestamptz[]) AS u(ticket_id, received_at) "
    "ON t.ticket_id = u.ticket_id AND t.received_at = u.received_at "
    "WHERE t.incident_id IS NULL FOR UPDATE OF t"
)
_SET_LINKS = (
    "UPDATE tickets t SET incident_id = u.incident_id, duplicate_of = u.duplicate_of "
    "FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[]) "
    "AS u(ticket_id, received_at, incident_id, duplicate_of) "
    "WHERE t.ticket_id = u.ticket_id AND t.received_at = u.received_at"
)

# Decided by grouping, under the incident bucket locks; every other column is known before them.
_LINK_COLUMNS = ("duplicate_of", "incident_id")
_LINK_AT = tuple(COLUMNS.index(c) for c in _LINK_COLUMNS)


class PreparedCopy:
    """The COPY records of rows whose links are not decided yet: built before the incident bucket locks are
    taken (so the locks are not held while the JSON columns and the tuples are built), the two link columns
    read from the rows when the records are taken."""

    def __init__(self, rows: list[TicketRow]) -> None:
        self._rows = rows
        self._records = [list(record) for record in copy_records(rows)]

    def records(self) -> list[list[Any]]:
        """The records with each row's duplicate_of and incident_id as they are now."""
        for row, record in zip(self._rows, self._records, strict=True):
            for column, at in zip(_LINK_COLUMNS, _LINK_AT, strict=True):
                record[at] = getattr(row, column)
        return self._records


def _month_starts(rows: list[TicketRow]) -> set[datetime]:
    return {row.received_at.replace(day=1, hour=0, minute=0, second=0, microsecond=0) for row in rows}


async def ensure_month(conn: asyncpg.Connection, month: date) -> str | None:
    """Create `month`'s partitions if missing; their name, or None for an archived month.

    Two workers may race to create the same month: the loser's function can still see the table missing
    after waiting for the winner's lock (Postgres does not refresh its catalog snapshot on an advisory lock)
    and fail with duplicate_table. The table exists then, and asking again (a new statement) says so.
    """
    try:
        name = await conn.fetchval("SELECT jiesu_ensure_ticket_partition($1::date)", month)
    except asyncpg.DuplicateTableError:
        name = await conn.fetchval("SELECT jiesu_ensure_ticket_partition($1::date)", month)
    return str(name) if name else None


async def ensure_partitions(conn: asyncpg.Connection, rows: list[TicketRow], known: set[datetime]) -> None:
    """Create the month partitions these rows need that this process has not seen yet."""
    for month in sorted(_month_starts(rows) - known):
        await ensure_month(conn, month.date())
        known.add(month)


async def claim_new(conn: asyncpg.Connection, rows: list[TicketRow]) -> set[str]:
    """Register the rows' ticket ids; return those not registered before (the new tickets)."""
    claimed = await conn.fetch(_CLAIM_KEYS, [r.ticket_id for r in rows], [r.received_at for r in rows])
    return {rec["ticket_id"] for rec in claimed}


async def insert_tickets(
    conn: asyncpg.Connection, rows: list[TicketRow], prepared: PreparedCopy | None = None
) -> None:
    """COPY rows into `tickets`: only rows `claim_new` returned in this transaction (COPY is not idempotent).

    A row the database refuses (a NUL in text, a month with no partition) fails the whole COPY with a data
    error, which the caller then isolates row by row.
    """
    if rows:
        records = prepared.records() if prepared is not None else copy_records(rows)
        await conn.copy_records_to_table("tickets", records=records, columns=COLUMNS)


async def lock_unlinked(conn: asyncpg.Connection, rows: list[TicketRow]) -> set[str]:
    """Of `rows` (stored), lock those still waiting for their links; their ids."""
    if not rows:
        return set()
    locked = await conn.fetch(_LOCK_UNLINKED, [r.ticket_id for r in rows], [r.received_at for r in rows])
    return {rec["ticket_id"] for rec in locked}


async def set_links(conn: asyncpg.Connection, rows: list[TicketRow]) -> None:
    """Write the links of stored rows `lock_unlinked` locked in this transaction."""
    if rows:
        await conn.execute(
            _SET_LINKS,
            [r.ticket_id for r in rows],
            [r.received_at for r in rows],
            [r.incident_id for r in rows],
            [r.duplicate_of for r in rows],
        )


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
