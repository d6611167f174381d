"""Moving a ticket on its lifecycle: one transaction that checks, updates, records and publishes.

The ticket row is locked (found through `ticket_keys`, so only its month's partition is touched), the move is
checked against ingest.lifecycle, the row and `ticket_status_history` are written, and the
`ticket.status_changed` event is sent and acknowledged before the transaction commits: a change is never
stored without its event. If the commit fails after the acknowledgement the caller gets an error and retries,
and the retry publishes the same change again with the same `event_id` (`<ticket_id>:<seq>`), which
subscribers deduplicate on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.bus import BusProducer
from ingest.db.tables import ticket_keys, ticket_status_history, tickets
from ingest.lifecycle import STATUSES, TRANSITIONS, Status, can_move
from ingest.masking import mask_fields
from ingest.schemas.events import FollowUp, TicketStatusChanged, event_headers


class NotStored(Exception):
    """The ticket is not stored yet (still `received`)."""


class Archived(Exception):
    """The ticket's month was archived by the retention command."""


class Refused(Exception):
    """The move is not allowed from the ticket's current status."""

    def __init__(self, current: Status, detail: str) -> None:
        super().__init__(detail)
        self.current = current


@dataclass(frozen=True)
class Outcome:
    """What a request did: the ticket's status before and after, and whether anything changed."""

    ticket_id: str
    previous_status: Status
    status: Status
    seq: int
    changed: bool
    changed_at: datetime | None


def _status(value: str) -> Status:
    for status in STATUSES:
        if status == value:
            return status
    raise ValueError(f"unknown status {value!r} in the database")


async def change_status(
    engine: AsyncEngine,
    producer: BusProducer,
    topic: str,
    ticket_id: str,
    *,
    target: Status,
    actor: str,
    note: str | None = None,
    department: str | None = None,
    expected: Status | None = None,
    trace_id: str | None = None,
    follow_up: FollowUp | None = None,
    mask_event: bool = True,
) -> Outcome:
    """Move `ticket_id` to `target`; the same status again is a no-op (a retried request changes nothing).
    The history keeps the note as written; the event has its personal numbers masked when `mask_event`."""
    async with engine.begin() as conn:
        key = (
            await conn.execute(select(ticket_keys.c.received_at).where(ticket_keys.c.ticket_id == ticket_id))
        ).first()
        if key is None:
            raise NotStored(ticket_id)
        row = (
            await conn.execute(
                select(tickets)
                .where(tickets.c.ticket_id == ticket_id, tickets.c.received_at == key.received_at)
                .with_for_update()
            )
        ).first()
        if row is None:
            raise Archived(ticket_id)
        current = _status(row.status)
        if expected is not None and expected != current:
            raise Refused(current, f"ticket {ticket_id} is {current}, not {expected}")
        if current == target:
            return Outcome(ticket_id, current, current, row.status_seq, False, row.status_changed_at)
        if not can_move(current, target):
            allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (final)"
            raise Refused(current, f"ticket {ticket_id} is {current}: it may move to {allowed}, not {target}")
        seq, now = row.status_seq + 1, datetime.now(UTC)
        new_department = department if department is not None else row.department
        where = (tickets.c.ticket_id == ticket_id, tickets.c.received_at == key.received_at)
        values: dict[str, object] = {
            "status": target,
            "status_seq": seq,
            "status_changed_at": now,
            "department": new_department,
        }
        # The response rate counts the first dispatch; a reopened ticket's second one does not reset it.
        if target == "dispatched" and row.dispatched_at is None:
            values["dispatched_at"] = now
        if follow_up is not None:
            values.update(
                follow_up_solved=follow_up.solved,
                follow_up_satisfaction=follow_up.satisfaction,
                follow_up_at=now,
            )
        await conn.execute(update(tickets).where(*where).values(**values))
        # The history row and the event say the same thing about the change (the event's texts masked).
        change = {
            "ticket_id": ticket_id,
            "seq": seq,
            "from_status": current,
            "to_status": target,
            "changed_at": now,
            "actor": actor,
            "note": note,
            "department": new_department,
        }
        await conn.execute(insert(ticket_status_history).values(received_at=key.received_at, **change))
        event = TicketStatusChanged(
            event_id=f"{ticket_id}:{seq}",
            **(mask_fields(dict(change)) if mask_event else change),
            received_at=row.received_at,
            channel=row.channel,
            category=row.category,
            district=row.district,
            urgency=row.urgency,
            follow_up=follow_up,
        )
        headers = event_headers(event.event_type, event.schema_version, trace_id, now)
        # Inside the transaction: a BusUnavailable here rolls the change back.
        await producer.send(topic, event.to_bytes(), key=ticket_id.encode(), headers=headers)
    return Outcome(ticket_id, current, target, seq, True, now)
