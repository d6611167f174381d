"""Response bodies of the gateway's API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.problems import Problem
from ingest.schemas import descriptions as d


class Accepted(BaseModel):
    """The answer to an accepted submission."""

    ticket_id: str = Field(examples=["JSMFRGGZDFMZTWQ2LKNBSWY3DP"], description=d.TICKET_ID)
    status_url: str = Field(examples=["/v1/complaints/JSMFRGGZDFMZTWQ2LKNBSWY3DP"], description=d.STATUS_URL)


class TicketView(BaseModel):
    """A ticket as stored, or `received` while the workers have not stored it yet (then only `ticket_id` and
    `status` are set)."""

    ticket_id: str = Field(description=d.TICKET_ID)
    status: Literal["received", "processed", "dispatched", "resolved", "closed", "rejected"] = Field(
        description=d.STATUS
    )
    channel: str | None = Field(default=None, description=d.CHANNEL)
    external_id: str | None = Field(default=None, description=d.EXTERNAL_ID)
    received_at: datetime | None = Field(default=None, description=d.RECEIVED_AT)
    processed_at: datetime | None = Field(default=None, description=d.PROCESSED_AT)
    title: str | None = Field(default=None, description=d.TITLE)
    content: str | None = Field(default=None, description=d.CONTENT)
    district: str | None = Field(default=None, description=d.DISTRICT)
    address: str | None = Field(default=None, description=d.ADDRESS)
    category: str | None = Field(default=None, description=d.CATEGORY)
    category_confidence: float | None = Field(default=None, description=d.CATEGORY_CONFIDENCE)
    needs_review: bool | None = Field(default=None, description=d.NEEDS_REVIEW)
    review_reasons: list[str] | None = Field(default=None, description=d.REVIEW_REASONS)
    urgency: str | None = Field(default=None, description=d.URGENCY)
    urgency_reason: str | None = Field(default=None, description=d.URGENCY_REASON)
    urgency_situation: str | None = Field(
        default=None, description="The urgency catalogue's situation behind a critical or high urgency"
    )
    urgent_screen: str | None = Field(
        default=None, description="The situation the gateway's screen saw when it took the urgent lane"
    )
    department: str | None = Field(
        default=None,
        description="The department the ticket is with: the routing table's, or the one it was dispatched to",
    )
    duplicate_of: str | None = Field(default=None, description=d.DUPLICATE_OF)
    incident_id: str | None = Field(default=None, description=d.INCIDENT_ID)


class ItemResult(BaseModel):
    """The outcome of one item of a batch: accepted with its ticket id, or refused with its own problem."""

    index: int = Field(description="Position of the item in the request's `items`")
    status: Literal[202, 403, 422, 503] = Field(
        description="202 accepted; 403 the key may not submit on the item's channel; 422 invalid item "
        "(`problem.errors` names the fields, as `items.<index>.<path>`); 503 the bus did not acknowledge it"
    )
    ticket_id: str | None = Field(default=None, description="The item's ticket number, with 202")
    status_url: str | None = Field(default=None, description="Where to read the item's ticket, with 202")
    problem: Problem | None = Field(default=None, description="Otherwise: why the item was refused")


class BatchAccepted(BaseModel):
    """The answer to a batch: one result per item, in order."""

    accepted: int = Field(description="How many items were accepted (acknowledged by the bus)")
    refused: int = Field(description="How many were not; retry only those with status 503")
    results: list[ItemResult] = Field(description="One result per item, in the order of the request's items")
