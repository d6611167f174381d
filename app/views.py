"""Response bodies of the gateway's API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


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
    department: str | None = None
    duplicate_of: str | None = None
    incident_id: str | None = None
