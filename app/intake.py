"""Turning a validated submission into a record on the intake topic and a ticket id."""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.deps import Resources
from app.limits import FloodTracker
from app.metrics import ACCEPTED, PRODUCE_SECONDS
from app.refusals import InvalidSubmission
from ingest.bus import BusUnavailable
from ingest.bus.base import Outgoing
from ingest.schemas.records import INTAKE_SCHEMA_VERSION, IntakeRecord, intake_record_bytes
from ingest.schemas.submission import AnySubmission, external_id_of, intake_text
from ingest.storable import unstorable_fields
from ingest.tickets import idempotency_key_for, new_ticket_id
from ingest.topics import INTAKE, INTAKE_URGENT, topic_name
from ingest.urgency.screen import default_screen

__all__ = ["AcceptedRecord", "AnySubmission", "build_record", "publish", "publish_many"]


@dataclass(slots=True)
class AcceptedRecord:
    """An accepted submission's intake record, encoded: its JSON and the fields the gateway routes it by.

    Not an `IntakeRecord` model: the gateway only ever serialises the record, and building the model to do
    so would validate the submission a second time. `record()` parses the bytes back into one (tests, tools).
    """

    ticket_id: str
    channel: str
    key: bytes  # the Kafka key: bus_key() of the citizen key
    trace_id: str
    needs_review: bool
    value: bytes
    # The situation the urgency screen saw: such a record goes on the urgent lane, within the lane's budget,
    # which is larger for the screen's sure calls.
    urgent_screen: str | None = None
    urgent_sure: bool = False

    def to_bytes(self) -> bytes:
        """The record as it goes on the intake topic: `IntakeRecord.to_bytes()` of `record()`."""
        return self.value

    def record(self) -> IntakeRecord:
        """The record as the workers read it."""
        return IntakeRecord.from_bytes(self.value)


def build_record(
    sub: AnySubmission,
    idempotency_header: str | None,
    secret: str,
    flood: FloodTracker | None = None,
    field_prefix: Sequence[str | int] = (),
) -> AcceptedRecord:
    """The intake record of `sub`, with its (deterministic, when keyed) ticket id and review reasons.

    InvalidSubmission (fields named under `field_prefix`) when the database could not store the record: a
    record accepted with a 202 must never be refused later.
    """
    external_id = external_id_of(sub)
    ticket_id = new_ticket_id(secret, idempotency_key_for(sub.channel, external_id, idempotency_header))
    text = intake_text(sub)
    if flood is not None and (reason := flood.flag(text.citizen_key, ticket_id)):
        # A citizen flooding the line is still heard: the ticket is taken and a person looks at it.
        text.review_reasons.append(reason)
    trace_id = new_trace_id()
    screened = default_screen().call(text.title, text.content, normalised=True)
    urgent_screen = screened.situation if screened else None
    # IntakeRecord's fields in its order, but the submission (spliced in by intake_record_bytes).
    head = {
        "schema_version": INTAKE_SCHEMA_VERSION,
        "ticket_id": ticket_id,
        "channel": sub.channel,
        "external_id": external_id,
        "received_at": datetime.now(UTC),
        "title": text.title,
        "content": text.content,
        "citizen_key": text.citizen_key,
        "district": text.district,
        "address": text.address,
        "review_reasons": text.review_reasons,
        "urgent_screen": urgent_screen,
        "trace_id": trace_id,
    }
    value = intake_record_bytes(head, sub)
    if unstorable := unstorable_fields(value, sub, field_prefix):
        raise InvalidSubmission(unstorable)
    return AcceptedRecord(
        ticket_id,
        sub.channel,
        bus_key(text.citizen_key, ticket_id, secret),
        trace_id,
        bool(text.review_reasons),
        value,
        urgent_screen,
        bool(screened and screened.sure),
    )


# The bits `uuid.uuid4()` sets: version 4 and the RFC 4122 variant.
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def new_trace_id() -> str:
    """`uuid.uuid4().hex`, at a quarter of its cost (no UUID object; one per submission)."""
    return f"{(int.from_bytes(os.urandom(16), 'big') & _UUID4_CLEAR) | _UUID4_SET:032x}"


# The gateway writes one schema version: its header is built once.
_SCHEMA_HEADER = ("schema_version", str(INTAKE_SCHEMA_VERSION).encode())
_NEEDS_REVIEW = ("needs_review", b"1")


def intake_topic(record: AcceptedRecord, resources: Resources) -> str:
    """The intake topic of `record`: the urgent lane when the screen saw an urgent situation and that
    situation's lane budget allows."""
    urgent = resources.urgent_lane.admits(record.urgent_screen, record.urgent_sure)
    return topic_name(INTAKE_URGENT if urgent else INTAKE, resources.settings.topic_prefix)


def bus_key(citizen_key: str | None, ticket_id: str, secret: str) -> bytes:
    """The intake record's Kafka key. Keyed by citizen so one citizen's messages stay in order on one
    partition (resubmission detection sees them in sequence); anonymous messages spread by ticket id. The
    citizen key is hashed with the ticket secret: a phone number or an openid would otherwise show in every
    tool that prints keys, and without the secret the few billion phone numbers cannot be tried one by one."""
    if citizen_key is None:
        return ticket_id.encode()
    keyed = hashlib.blake2b(citizen_key.encode(), digest_size=12, key=secret.encode()[:64])
    return b"c:" + keyed.hexdigest().encode()


def outgoing(record: AcceptedRecord, topic: str) -> Outgoing:
    """The bus record of `record` on `topic`: value, key and headers."""
    key = record.key
    headers = [
        _SCHEMA_HEADER,
        ("trace_id", record.trace_id.encode()),
        ("ticket_id", record.ticket_id.encode()),
    ]
    if record.needs_review:
        headers.append(_NEEDS_REVIEW)
    return topic, record.value, key, headers


async def publish(record: AcceptedRecord, resources: Resources) -> None:
    """Put `record` on the intake topic and wait for the acknowledgement (BusUnavailable if none in time)."""
    topic, value, key, headers = outgoing(record, intake_topic(record, resources))
    started = time.perf_counter()
    await resources.producer.send(topic, value, key=key, headers=headers)
    PRODUCE_SECONDS.observe(time.perf_counter() - started)
    _accepted(record.channel).inc()


@functools.cache
def _accepted(channel: str) -> Any:
    # The channel's series, looked up once (`labels()` takes a lock each call); three channels at most.
    return ACCEPTED.labels(channel=channel)


async def publish_many(
    records: Sequence[AcceptedRecord], resources: Resources
) -> list[BusUnavailable | None]:
    """Put every record on the intake topic; per record, None once acknowledged, else why it was not."""
    started = time.perf_counter()
    results = await resources.producer.send_many([outgoing(r, intake_topic(r, resources)) for r in records])
    elapsed = time.perf_counter() - started
    # One increment per channel, not per record (each takes a lock); the histogram needs one per record.
    accepted: dict[str, int] = {}
    for record, result in zip(records, results, strict=True):
        if result is None:
            PRODUCE_SECONDS.observe(elapsed)
            accepted[record.channel] = accepted.get(record.channel, 0) + 1
    for channel, count in accepted.items():
        _accepted(channel).inc(count)
    return results
