"""Records on the intake topic, carrying a schema version (the downstream events are in events.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from ingest.schemas import descriptions as d

INTAKE_SCHEMA_VERSION = 1

__all__ = ["INTAKE_SCHEMA_VERSION", "IntakeRecord", "intake_record_bytes"]


class IntakeRecord(BaseModel):
    """An accepted submission as the gateway puts it on `complaints.intake`."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = Field(default=1, description=d.SCHEMA_VERSION)
    ticket_id: str = Field(min_length=1, max_length=64, description=d.TICKET_ID)
    channel: Literal["web", "wechat", "phone"] = Field(description=d.CHANNEL)
    external_id: str | None = Field(default=None, description=d.EXTERNAL_ID)
    received_at: datetime = Field(description=d.RECEIVED_AT)
    title: str = Field(default="", description=d.TITLE)
    content: str = Field(description=d.CONTENT)
    citizen_key: str | None = Field(
        default=None,
        description="The citizen's identity, `tel:<phone>` or `wx:<openid>` (a call's caller number when the "
        "citizen gave none): what links a citizen's tickets; its keyed hash is the record's Kafka key; null "
        "for an anonymous submission",
    )
    district: str | None = Field(default=None, description="The district the adapter sent, if any")
    address: str | None = Field(default=None, description=d.ADDRESS)
    review_reasons: list[str] = Field(
        default_factory=list,
        description="Why the gateway wants a person to look (e.g. a truncated text); the workers add theirs",
    )
    urgent_screen: str | None = Field(
        default=None,
        description="The urgency situation the gateway's screen saw; such a record took the urgent lane "
        "unless that situation's lane budget was spent",
    )
    trace_id: str = Field(
        description="The submission's trace id, carried on as its events' `trace_id` header"
    )
    submission: dict[str, Any] = Field(description="The normalised submission as the adapter sent it")

    def to_bytes(self) -> bytes:
        """Serialise for the bus: the JSON of `model_dump(mode="json")`, field order and all.

        pydantic's serializer writes the bytes itself; going through `model_dump` and orjson would build the
        dict first, for every record (one per submission, 500 per batch; docs/performance.md, "Gateway").
        """
        return self.__pydantic_serializer__.to_json(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> IntakeRecord:
        """Parse a record read from the bus; raises ValueError (pydantic or orjson) when it is not one."""
        return cls.model_validate(orjson.loads(raw))


_SUBMISSION_FIELD = b',"submission":'


def intake_record_bytes(head: dict[str, Any], submission: BaseModel) -> bytes:
    """`IntakeRecord(**head, submission=submission.model_dump(mode="json", exclude_none=True)).to_bytes()`,
    byte for byte, without building the model or the submission's dict.

    `head` holds every other field of the record, in the model's field order (`schema_version` … `trace_id`),
    `received_at` an aware UTC datetime; the submission's own JSON is spliced in as the last field. The
    gateway makes one record per accepted submission, and building the model (validating the submission's
    dict inside it) only to serialise it again would validate every submission twice (docs/performance.md,
    "Gateway"). tests/unit/test_intake_hot_path.py holds the two to the same bytes.
    """
    head_json = orjson.dumps(head, option=orjson.OPT_UTC_Z)
    submission_json = submission.__pydantic_serializer__.to_json(submission, exclude_none=True)
    return b"".join((head_json[:-1], _SUBMISSION_FIELD, submission_json, b"}"))
