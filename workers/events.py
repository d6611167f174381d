"""Publishing processed tickets to the downstream topics."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from ingest.bus import BusProducer, BusUnavailable
from ingest.bus.base import Outgoing
from ingest.schemas.events import EVENT_SCHEMA_VERSION, TicketProcessed, UrgencyChange, event_headers
from ingest.topics import EVENTS, URGENT, topic_name
from ingest.urgency.catalogue import HIGH, NORMAL, load_catalogue
from workers.ticket import TicketRow

_RANK = {NORMAL: 0, HIGH: 1, "critical": 2}


def screened_level(situation_id: str | None) -> str:
    """The level the gateway's screen implied: its situation's level (high if the catalogue lost it)."""
    if situation_id is None:
        return NORMAL
    try:
        return load_catalogue().by_id(situation_id).level
    except KeyError:
        return HIGH


def urgency_change(row: TicketRow) -> UrgencyChange | None:
    """How the judged urgency compares with what the screen implied (None: normal, and not screened)."""
    screened, judged = _RANK[screened_level(row.urgent_screen)], _RANK.get(row.urgency, 0)
    if row.urgent_screen is None and judged == 0:
        return None
    if judged == screened:
        return "confirmed"
    return "raised" if judged > screened else "lowered"


def goes_to_urgent_topic(row: TicketRow) -> bool:
    """Critical and high tickets, and every ticket of the urgent lane (so the desk sees a lowered alarm)."""
    return row.urgency != NORMAL or row.urgent_screen is not None


def processed_event(row: TicketRow) -> TicketProcessed:
    """The `ticket.processed` event of a stored row."""
    return TicketProcessed(
        ticket_id=row.ticket_id,
        channel=row.channel,
        external_id=row.external_id,
        received_at=row.received_at,
        processed_at=row.processed_at,
        title=row.title,
        content=row.content,
        district=row.district,
        address=row.address,
        category=row.category,
        category_confidence=row.category_confidence,
        needs_review=row.needs_review,
        review_reasons=row.review_reasons,
        urgency=row.urgency,
        urgency_reason=row.urgency_reason,
        department=row.department,
        duplicate_of=row.duplicate_of,
        incident_id=row.incident_id,
        urgency_situation=row.urgency_situation,
        urgent_screen=row.urgent_screen,
        urgency_change=urgency_change(row),
    )


@runtime_checkable
class _SendsMany(Protocol):
    async def send_many(self, records: Sequence[Outgoing]) -> list[BusUnavailable | None]: ...


async def publish_processed(
    producer: BusProducer, rows: list[TicketRow], trace_ids: dict[str, str], prefix: str, now: datetime
) -> int:
    """Send every row's event (urgent ones to the urgent topic as well); wait for all acknowledgements.
    Raises BusUnavailable if any is not acknowledged."""
    events, urgent = topic_name(EVENTS, prefix), topic_name(URGENT, prefix)
    records: list[Outgoing] = []
    for row in rows:
        event = processed_event(row)
        value, key = event.to_bytes(), row.ticket_id.encode()
        headers = event_headers(event.event_type, EVENT_SCHEMA_VERSION, trace_ids.get(row.ticket_id), now)
        records.append((events, value, key, headers))
        if goes_to_urgent_topic(row):
            records.append((urgent, value, key, headers))
    if isinstance(producer, _SendsMany):
        # One ack budget for the batch: a `send` per event is a task and two timeouts each, which cost a
        # worker more than building the events.
        failed = [outcome for outcome in await producer.send_many(records) if outcome is not None]
        if failed:
            raise failed[0]
    else:
        await asyncio.gather(*(producer.send(t, v, key=k, headers=h) for t, v, k, h in records))
    return len(records)
