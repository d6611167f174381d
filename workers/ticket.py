"""A ticket as the worker stores and publishes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Column order of `tickets`, used by the batched insert.
COLUMNS = (
    "ticket_id",
    "received_at",
    "processed_at",
    "status",
    "channel",
    "external_id",
    "title",
    "content",
    "citizen_key",
    "district",
    "address",
    "category",
    "category_confidence",
    "needs_review",
    "review_reasons",
    "urgency",
    "urgency_reason",
    "department",
    "duplicate_of",
    "incident_id",
    "submission",
    "source_partition",
    "source_offset",
    "urgency_situation",
    "urgent_screen",
    "content_key",
    "says_repeat",
)


@dataclass
class TicketRow:
    """One row of `tickets`."""

    ticket_id: str
    received_at: datetime
    processed_at: datetime
    status: str
    channel: str
    external_id: str | None
    title: str
    content: str
    citizen_key: str | None
    district: str | None
    address: str | None
    category: str | None
    category_confidence: float | None
    needs_review: bool
    review_reasons: list[str]
    urgency: str
    urgency_reason: str | None
    department: str | None
    duplicate_of: str | None
    incident_id: str | None
    submission: dict[str, Any]
    source_partition: int
    source_offset: int
    # The catalogue situation that made the ticket urgent (None when normal).
    urgency_situation: str | None = None
    # What the gateway's screen saw when it sent the ticket on the urgent lane (None: the normal lane).
    urgent_screen: str | None = None
    # The first words of the content as a key (workers/judgement/resubmission.py): how a resubmission through
    # another channel finds this ticket.
    content_key: int | None = None
    # It opens by saying it repeats an earlier one: when no original is found, it waits for one
    # (workers/linking.py).
    says_repeat: bool = False
    # Not a column: the district as the adapter sent it, which incident grouping still goes by (a district
    # implied by a road can differ between reports of one incident; grouping by real sites is yet to come).
    adapter_district: str | None = None
