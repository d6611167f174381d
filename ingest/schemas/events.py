"""Events on the downstream topics: each a pydantic model whose `schema_version` is its contract's version.

The JSON Schema of every event is generated from these models (`python -m ingest.schemas.contract write`),
committed under docs/schemas/ and served at `GET /v1/schemas`. Change a model compatibly (a new field) and
regenerate; change it incompatibly (remove, rename or retype a field) and bump its `schema_version` too —
tests/unit/test_contract.py fails otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import orjson
from pydantic import BaseModel, Field

from ingest.lifecycle import Status
from ingest.schemas import descriptions as d

# The version of `ticket.processed`, the first event; each event model carries its own in `schema_version`.
EVENT_SCHEMA_VERSION = 1

Urgency = Literal["critical", "high", "normal"]
# How the workers' judgement compares with the gateway's screen (see TicketProcessed.urgency_change).
UrgencyChange = Literal["confirmed", "raised", "lowered"]


class TicketJudged(BaseModel):
    """What every ticket event built from a stored, judged ticket says: the submission and its judgement."""

    schema_version: Literal[1] = Field(default=1, description=d.SCHEMA_VERSION)
    event_type: str = Field(description=d.EVENT_TYPE)
    ticket_id: str = Field(description=d.TICKET_ID)
    channel: str = Field(description=d.CHANNEL)
    external_id: str | None = Field(description=d.EXTERNAL_ID)
    received_at: datetime = Field(description=d.RECEIVED_AT)
    processed_at: datetime = Field(description=d.PROCESSED_AT)
    title: str = Field(description=d.TITLE)
    content: str = Field(description=d.CONTENT)
    district: str | None = Field(description=d.DISTRICT)
    address: str | None = Field(description=d.ADDRESS)
    category: str | None = Field(description=d.CATEGORY)
    category_confidence: float | None = Field(description=d.CATEGORY_CONFIDENCE)
    needs_review: bool = Field(description=d.NEEDS_REVIEW)
    review_reasons: list[str] = Field(description=d.REVIEW_REASONS)
    urgency: Urgency = Field(description=d.URGENCY)
    urgency_reason: str | None = Field(description=d.URGENCY_REASON)
    department: str | None = Field(description=d.DEPARTMENT)
    urgency_situation: str | None = Field(
        default=None,
        description="The situation of the urgency catalogue (ingest/urgency/situations.toml) that made the "
        "ticket critical or high; null when normal",
    )
    urgent_screen: str | None = Field(
        default=None,
        description="The situation the gateway's quick screen saw (the ticket took the urgent lane unless "
        "that situation's lane budget was spent); null when the screen saw none",
    )
    urgency_change: UrgencyChange | None = Field(
        default=None,
        description="The judgement against the screen: `confirmed` (same level as the screened situation), "
        "`raised` (higher, including an urgent ticket the screen missed), `lowered` (the screen's alarm was "
        "not borne out: the desk can stand down); null for a normal ticket the screen let pass",
    )

    def to_bytes(self) -> bytes:
        """Serialise for the bus."""
        return orjson.dumps(self.model_dump(mode="json"))


class TicketUrgent(TicketJudged):
    """`ticket.urgent` on `complaints.urgent`: a ticket of the urgent lane, stored and judged, published
    before it is linked to its incident so that the desk never waits for incident grouping. Its
    `ticket.processed`, with `incident_id` and `duplicate_of`, follows on both topics once the normal lane has
    linked it."""

    event_type: Literal["ticket.urgent"] = Field(default="ticket.urgent", description=d.EVENT_TYPE)


class TicketProcessed(TicketJudged):
    """`ticket.processed` on `complaints.events`, and on `complaints.urgent` when critical or high or when the
    gateway's screen sent it on the urgent lane: a ticket stored, judged and linked."""

    event_type: Literal["ticket.processed"] = Field(default="ticket.processed", description=d.EVENT_TYPE)
    duplicate_of: str | None = Field(description=d.DUPLICATE_OF)
    incident_id: str | None = Field(description=d.INCIDENT_ID)


Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied"]


class FollowUp(BaseModel):
    """The follow-up call (回访) when a ticket is closed: was it solved, how satisfied is the citizen."""

    solved: bool = Field(description="The citizen says the problem was solved")
    satisfaction: Satisfaction | None = Field(
        default=None, description="满意 / 基本满意 / 不满意; null when the citizen would not say"
    )


class TicketStatusChanged(BaseModel):
    """`ticket.status_changed` on `complaints.events`: a downstream system moved a ticket on its lifecycle."""

    schema_version: Literal[1] = Field(default=1, description=d.SCHEMA_VERSION)
    event_type: Literal["ticket.status_changed"] = Field(
        default="ticket.status_changed", description=d.EVENT_TYPE
    )
    event_id: str = Field(description="`<ticket_id>:<seq>`; the same change always has the same id")
    ticket_id: str = Field(description=d.TICKET_ID)
    seq: int = Field(ge=1, description="1 for the first change after processing, then 2, 3, …")
    from_status: Status = Field(description="The ticket's status before the change")
    to_status: Status = Field(description="The ticket's status after the change")
    changed_at: datetime = Field(description="When the change was committed")
    actor: str = Field(description="The downstream system that made the change")
    note: str | None = Field(
        description="The note the downstream system gave with the change, if any; phone, ID-card and "
        "bank-card numbers in it masked as in the tickets' texts unless the gateway runs with "
        "JIESU_EVENTS_PERSONAL_DATA"
    )
    department: str | None = Field(
        description="The ticket's department after the change: the one named with it, else the one it had"
    )
    received_at: datetime = Field(description=d.RECEIVED_AT)
    channel: str = Field(description=d.CHANNEL)
    category: str | None = Field(description=d.CATEGORY)
    district: str | None = Field(description="The ticket's district, as stored (its `ticket.processed`'s)")
    urgency: Urgency = Field(description="The ticket's urgency, as stored (its `ticket.processed`'s)")
    follow_up: FollowUp | None = Field(
        default=None, description="The follow-up call recorded with a move to `closed`, if any"
    )

    def to_bytes(self) -> bytes:
        """Serialise for the bus."""
        return orjson.dumps(self.model_dump(mode="json"))


def event_headers(
    event_type: str, schema_version: int, trace_id: str | None, sent_at: datetime
) -> list[tuple[str, bytes]]:
    """The Kafka headers every event carries (subscribers route on them without parsing the value)."""
    headers = [
        ("schema_version", str(schema_version).encode()),
        ("event_type", event_type.encode()),
        ("content_type", b"application/json"),
        ("produced_at", sent_at.isoformat().encode()),
    ]
    if trace_id:
        headers.append(("trace_id", trace_id.encode()))
    return headers
