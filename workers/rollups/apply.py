"""Counting `ticket.processed` events into the rollups, once per ticket however often the event comes.

An event can come twice: Kafka redelivers what this worker had not committed, and the intake workers
republish a redelivered ticket's event (rebuilt from the stored row, identical). `rollup_ledger` remembers the
ticket ids already counted; the ledger rows and the increments are written in one transaction, so a batch
counts either entirely or not at all.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

from ingest.bus import BusMessage
from workers.rollups.metrics import BAD_EVENTS

log = logging.getLogger("jiesu.rollups")

_URGENT = frozenset({"critical", "high"})
PROCESSED = b"ticket.processed"


class BadEvent(ValueError):
    """An event this worker cannot read: it is counted and skipped (it can never become readable)."""


@dataclass(frozen=True)
class Counted:
    """What one processed ticket adds to the rollups."""

    ticket_id: str
    received_at: datetime
    district: str
    category: str
    channel: str
    urgent: bool
    incident_id: str | None

    @property
    def hour(self) -> datetime:
        """The UTC hour the ticket was received in."""
        return self.received_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _text(event: dict[str, object], field: str) -> str:
    value = event.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadEvent(f"{field} is {type(value).__name__}, not text")
    return value


def decode(msg: BusMessage) -> Counted | None:
    """The counted part of a `ticket.processed` event; None for other events (status changes)."""
    event_type = dict(msg.headers).get("event_type")
    if event_type is not None and event_type != PROCESSED:
        return None
    try:
        event = orjson.loads(msg.value)
    except orjson.JSONDecodeError as exc:
        raise BadEvent(f"not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise BadEvent("not a JSON object")
    if event.get("event_type") != PROCESSED.decode():
        return None
    try:
        received_at = datetime.fromisoformat(_text(event, "received_at"))
    except ValueError as exc:
        raise BadEvent(f"received_at: {exc}") from exc
    if received_at.tzinfo is None:
        raise BadEvent("received_at has no time zone")
    ticket_id, channel = _text(event, "ticket_id"), _text(event, "channel")
    if not ticket_id or not channel:
        raise BadEvent("ticket_id and channel are required")
    return Counted(
        ticket_id=ticket_id,
        received_at=received_at,
        district=_text(event, "district"),
        category=_text(event, "category"),
        channel=channel,
        urgent=_text(event, "urgency") in _URGENT,
        incident_id=_text(event, "incident_id") or None,
    )


def decode_batch(batch: list[BusMessage]) -> list[Counted]:
    """The batch's processed tickets, each once; unreadable events are logged, counted and left out."""
    out: dict[str, Counted] = {}
    for msg in batch:
        try:
            item = decode(msg)
        except BadEvent as exc:
            BAD_EVENTS.inc()
            log.warning(
                "event not counted: unreadable",
                extra={
                    "error": str(exc),
                    "topic": msg.topic,
                    "partition": msg.partition,
                    "offset": msg.offset,
                },
            )
            continue
        if item is not None:
            out.setdefault(item.ticket_id, item)
    return list(out.values())


HourKey = tuple[datetime, str, str, str]  # (hour, district, category, channel)


@dataclass(frozen=True)
class Tally:
    """Increments of one batch: tickets and urgent tickets per hour cell, tickets per incident and hour."""

    tickets: Counter[HourKey]
    urgent: Counter[HourKey]
    incidents: Counter[tuple[datetime, str]]


def tally(items: list[Counted]) -> Tally:
    """Add up the batch's tickets by rollup key."""
    tickets: Counter[HourKey] = Counter()
    urgent: Counter[HourKey] = Counter()
    incidents: Counter[tuple[datetime, str]] = Counter()
    for item in items:
        key = (item.hour, item.district, item.category, item.channel)
        tickets[key] += 1
        urgent[key] += item.urgent
        if item.incident_id is not None:
            incidents[(item.hour, item.incident_id)] += 1
    return Tally(tickets, urgent, incidents)


_CLAIM = """
INSERT INTO rollup_ledger (ticket_id, received_at)
SELECT * FROM unnest($1::text[], $2::timestamptz[])
ON CONFLICT DO NOTHING
RETURNING ticket_id
"""
# Keys in sorted order: two reports workers on different partitions then lock shared rows in the same
# order and cannot deadlock.
_ADD_HOURLY = """
INSERT INTO rollup_hourly (hour, district, category, channel, tickets, urgent)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[])
ON CONFLICT (hour, district, category, channel) DO UPDATE
SET tickets = rollup_hourly.tickets + EXCLUDED.tickets, urgent = rollup_hourly.urgent + EXCLUDED.urgent
"""
_ADD_INCIDENTS = """
INSERT INTO rollup_incident_hourly (hour, incident_id, tickets)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int[])
ON CONFLICT (hour, incident_id) DO UPDATE SET tickets = rollup_incident_hourly.tickets + EXCLUDED.tickets
"""


async def apply(conn: asyncpg.Connection, items: list[Counted]) -> int:
    """Count the tickets not counted before, in one transaction; return how many were new."""
    if not items:
        return 0
    async with conn.transaction():
        claimed = await conn.fetch(_CLAIM, [i.ticket_id for i in items], [i.received_at for i in items])
        new_ids = {r["ticket_id"] for r in claimed}
        counts = tally([i for i in items if i.ticket_id in new_ids])
        keys = sorted(counts.tickets)
        if keys:
            await conn.execute(
                _ADD_HOURLY,
                *(list(column) for column in zip(*keys, strict=True)),
                [counts.tickets[k] for k in keys],
                [counts.urgent[k] for k in keys],
            )
        pairs = sorted(counts.incidents)
        if pairs:
            await conn.execute(
                _ADD_INCIDENTS,
                [h for h, _ in pairs],
                [i for _, i in pairs],
                [counts.incidents[p] for p in pairs],
            )
    return len(new_ids)


async def prune_ledger(conn: asyncpg.Connection, older_than: datetime) -> int:
    """Forget counted tickets received before `older_than` (their events can no longer come again)."""
    status = await conn.execute("DELETE FROM rollup_ledger WHERE received_at < $1", older_than)
    return int(status.split()[-1])
