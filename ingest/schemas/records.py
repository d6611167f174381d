"""Records on the intake topic and events on the downstream topics, each carrying a schema version."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

INTAKE_SCHEMA_VERSION = 1
EVENT_SCHEMA_VERSION = 1


class IntakeRecord(BaseModel):
    """An accepted submission as the gateway puts it on `complaints.intake`."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = 1
    ticket_id: str = Field(min_length=1, max_length=64)
    channel: Literal["web", "wechat", "phone"]
    external_id: str | None = None
    received_at: datetime
    title: str = ""
    content: str
    citizen_key: str | None = None
    district: str | None = None
    address: str | None = None
    review_reasons: list[str] = Field(default_factory=list)
    trace_id: str
    submission: dict[str, Any] = Field(description="The normalised submission as the adapter sent it")

    def to_bytes(self) -> bytes:
        """Serialise for the bus."""
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes) -> IntakeRecord:
        """Parse a record read from the bus; raises ValueError (pydantic or orjson) when it is not one."""
        return cls.model_validate(orjson.loads(raw))


class TicketProcessed(BaseModel):
    """`ticket.processed` on `complaints.events` (and `complaints.urgent` when critical)."""

    schema_version: Literal[1] = 1
    event_type: Literal["ticket.processed"] = "ticket.processed"
    ticket_id: str
    channel: str
    external_id: str | None
    received_at: datetime
    processed_at: datetime
    title: str
    content: str
    district: str | None
    address: str | None
    category: str | None
    category_confidence: float | None
    needs_review: bool
    review_reasons: list[str]
    urgency: Literal["critical", "high", "normal"]
    urgency_reason: str | None
    department: str | None
    duplicate_of: str | None
    incident_id: str | None

    def to_bytes(self) -> bytes:
        """Serialise for the bus."""
        return orjson.dumps(self.model_dump(mode="json"))
