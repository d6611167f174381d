"""Publishing processed tickets to the downstream topics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ingest.bus import BusProducer
from ingest.bus.base import Outgoing
from ingest.masking import mask_fields
from ingest.schemas.events import (
    EVENT_SCHEMA_VERSION,
    TicketJudged,
    TicketProcessed,
    TicketUrgent,
    UrgencyChange,
    event_headers,
)
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


# The fields of every ticket event that are columns of the row, under the same names.
_NOT_COLUMNS = ("schema_version", "event_type", "urgency_change")
_ROW_FIELDS = tuple(name for name in TicketJudged.model_fields if name not in _NOT_COLUMNS)


def _judged_fields(row: TicketRow, mask: bool) -> dict[str, object]:
    """The fields every ticket event takes from the stored row (TicketJudged's), the personal numbers in
    its texts masked when `mask` (ingest/masking.py)."""
    fields = {name: getattr(row, name) for name in _ROW_FIELDS}
    fields["urgency_change"] = urgency_change(row)
    if mask:
        mask_fields(fields)
    return fields


def processed_event(row: TicketRow, mask: bool = True) -> TicketProcessed:
    """The `ticket.processed` event of a stored, linked row."""
    return TicketProcessed.model_validate(
        {**_judged_fields(row, mask), "duplicate_of": row.duplicate_of, "incident_id": row.incident_id}
    )


def urgent_event(row: TicketRow, mask: bool = True) -> TicketUrgent:
    """The `ticket.urgent` event of a row the urgent lane stored (the same before and after its linking)."""
    return TicketUrgent.model_validate(_judged_fields(row, mask))


async def send_all(producer: BusProducer, records: Sequence[Outgoing]) -> None:
    """Send `records` and wait for every acknowledgement; raises BusUnavailable if any is not acknowledged.
    One ack budget for the batch: a `send` per event is a task and two timeouts each, which cost a worker more
    than building the events."""
    failed = [outcome for outcome in await producer.send_many(records) if outcome is not None]
    if failed:
        raise failed[0]


async def publish_processed(
    producer: BusProducer,
    rows: list[TicketRow],
    trace_ids: dict[str, str],
    prefix: str,
    now: datetime,
    *,
    mask: bool = True,
) -> int:
    """Send every row's `ticket.processed` (urgent ones to the urgent topic as well); wait for all
    acknowledgements. Raises BusUnavailable if any is not acknowledged."""
    events, urgent = topic_name(EVENTS, prefix), topic_name(URGENT, prefix)
    records: list[Outgoing] = []
    for row in rows:
        event = processed_event(row, mask)
        value, key = event.to_bytes(), row.ticket_id.encode()
        headers = event_headers(event.event_type, EVENT_SCHEMA_VERSION, trace_ids.get(row.ticket_id), now)
        records.append((events, value, key, headers))
        if goes_to_urgent_topic(row):
            records.append((urgent, value, key, headers))
    await send_all(producer, records)
    return len(records)


async def publish_urgent(
    producer: BusProducer,
    rows: list[TicketRow],
    trace_ids: dict[str, str],
    prefix: str,
    now: datetime,
    *,
    mask: bool = True,
) -> int:
    """Send the `ticket.urgent` of every row to the urgent topic; wait for all acknowledgements."""
    urgent = topic_name(URGENT, prefix)
    records: list[Outgoing] = []
    for row in rows:
        event = urgent_event(row, mask)
        headers = event_headers(event.event_type, event.schema_version, trace_ids.get(row.ticket_id), now)
        records.append((urgent, event.to_bytes(), row.ticket_id.encode(), headers))
    await send_all(producer, records)
    return len(records)
