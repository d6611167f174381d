"""Response bodies of the gateway's API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.problems import Problem


class Accepted(BaseModel):
    """The answer to an accepted submission."""

    ticket_id: str = Field(examples=["JSMFRGGZDFMZTWQ2LKNBSWY3DP"])
    status_url: str = Field(examples=["/v1/complaints/JSMFRGGZDFMZTWQ2LKNBSWY3DP"])


class TicketView(BaseModel):
    """A ticket as stored, or `received` while the workers have not stored it yet."""

    ticket_id: str
    status: Literal["received", "processed", "dispatched", "resolved", "closed", "rejected"]
    channel: str | None = None
    external_id: str | None = None
    received_at: datetime | None = None
    processed_at: datetime | None = None
    title: str | None = None
    content: str | None = None
    district: str | None = None
    address: str | None = None
    category: str | None = None
    category_confidence: float | None = None
    needs_review: bool | None = None
    review_reasons: list[str] | None = None
    urgency: str | None = None
    urgency_reason: str | None = None
    urgency_situation: str | None = Field(
        default=None, description="The urgency catalogue's situation behind a critical or high urgency"
    )
    urgent_screen: str | None = Field(
        default=None, description="The situation the gateway's screen saw when it took the urgent lane"
    )
    department: str | None = None
    duplicate_of: str | None = None
    incident_id: str | None = None


class ItemResult(BaseModel):
    """The outcome of one item of a batch: accepted with its ticket id, or refused with its own problem."""

    index: int = Field(description="Position of the item in the request's `items`")
    status: Literal[202, 403, 422, 503] = Field(
        description="202 accepted; 403 the key may not submit on the item's channel; 422 invalid item "
        "(`problem.errors` names the fields, as `items.<index>.<path>`); 503 the bus did not acknowledge it"
    )
    ticket_id: str | None = None
    status_url: str | None = None
    problem: Problem | None = None


class BatchAccepted(BaseModel):
    """The answer to a batch: one result per item, in order."""

    accepted: int = Field(description="How many items were accepted (acknowledged by the bus)")
    refused: int = Field(description="How many were not; retry only those with status 503")
    results: list[ItemResult]
