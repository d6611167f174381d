"""The submission hot path's shortcuts produce exactly what the plain code produced."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from app.intake import build_record, bus_key, new_trace_id, outgoing
from ingest.schemas.records import IntakeRecord, intake_record_bytes
from ingest.schemas.submission import AnySubmission, Submission
from loadtest.bench import records as bench_records

_SUBMISSION: TypeAdapter[AnySubmission] = TypeAdapter(Submission)


def _plain_bytes(record: IntakeRecord) -> bytes:
    # What `to_bytes` was: orjson of the JSON-mode dump.
    return orjson.dumps(record.model_dump(mode="json"))


def test_record_bytes_are_the_json_mode_dump_for_every_bench_body() -> None:
    bodies = [json.loads(b.replace("@ID@", f"t{i}")) for i, b in enumerate(bench_records.bodies(200))]
    channels = set()
    for body in bodies:
        submission = _SUBMISSION.validate_python(body)
        accepted = build_record(submission, None, "secret")
        record = accepted.record()
        channels.add(record.channel)
        # The spliced bytes are the model's own, field order and all, and the submission is its JSON dump.
        assert accepted.to_bytes() == record.to_bytes() == _plain_bytes(record)
        assert record.submission == submission.model_dump(mode="json", exclude_none=True)
        assert (accepted.ticket_id, accepted.channel, accepted.key, accepted.trace_id) == (
            record.ticket_id,
            record.channel,
            bus_key(record.citizen_key, record.ticket_id, "secret"),
            record.trace_id,
        )
        assert accepted.needs_review == bool(record.review_reasons)
    assert channels == {"web", "wechat", "phone"}


def _head(record: IntakeRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in IntakeRecord.model_fields if name != "submission"}


@settings(max_examples=200, deadline=None)
@given(body=st.sampled_from(bench_records.bodies(60)), micro=st.integers(0, 999_999), text=st.text())
def test_spliced_bytes_are_the_models_for_any_head(body: str, micro: int, text: str) -> None:
    submission = _SUBMISSION.validate_python(json.loads(body.replace("@ID@", "s")))
    text = text.encode("utf-8", "ignore").decode("utf-8")  # lone surrogates never reach a record
    record = IntakeRecord(
        ticket_id="JSAAAAAAAAAAAAAAAABBBBBBBB",
        channel=submission.channel,
        received_at=datetime(2026, 11, 28, 6, 30, 1, micro, tzinfo=UTC),
        content=text or "x",
        title=text,
        address=text or None,
        review_reasons=[text] if text else [],
        trace_id=new_trace_id(),
        submission=submission.model_dump(mode="json", exclude_none=True),
    )
    # `_head` takes every field the model has: a field added to IntakeRecord must be added to the head too.
    assert intake_record_bytes(_head(record), submission) == record.to_bytes()


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    submission=st.dictionaries(st.text(), _JSON, max_size=6),
    text=st.text(),
    reasons=st.lists(st.text(), max_size=3),
    micro=st.integers(0, 999_999),
)
def test_record_bytes_match_the_json_mode_dump_for_any_values(
    submission: dict[str, Any], text: str, reasons: list[str], micro: int
) -> None:
    text = text.encode("utf-8", "ignore").decode("utf-8")  # lone surrogates never reach a record
    record = IntakeRecord(
        ticket_id="JSAAAAAAAAAAAAAAAABBBBBBBB",
        channel="web",
        received_at=datetime(2026, 11, 28, 6, 30, 1, micro, tzinfo=UTC),
        content=text or "x",
        title=text,
        review_reasons=[r.encode("utf-8", "ignore").decode("utf-8") for r in reasons],
        trace_id=new_trace_id(),
        submission=json.loads(json.dumps(submission).encode("utf-8", "ignore")),
    )
    assert orjson.loads(record.to_bytes()) == orjson.loads(_plain_bytes(record))
    assert record.to_bytes() == _plain_bytes(record)


def test_trace_ids_are_uuid4_hex() -> None:
    ids = {new_trace_id() for _ in range(2000)}
    assert len(ids) == 2000
    for trace_id in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
        parsed = uuid.UUID(hex=trace_id)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert parsed.hex == trace_id


def test_outgoing_headers_are_the_records() -> None:
    body = json.loads(bench_records.bodies(1)[0].replace("@ID@", "h"))
    record = build_record(_SUBMISSION.validate_python(body), None, "secret")
    topic, value, key, headers = outgoing(record, "intake")
    assert (topic, value) == ("intake", record.to_bytes())
    citizen_key = record.record().citizen_key
    assert key is not None and citizen_key is not None
    assert citizen_key.encode() not in key  # no phone number or openid in the key
    assert key == bus_key(citizen_key, record.ticket_id, "secret") and key.startswith(b"c:")
    assert key != bus_key(citizen_key, record.ticket_id, "another secret")  # keyed: not guessable
    assert bus_key(None, record.ticket_id, "secret") == record.ticket_id.encode()
    expected = [
        ("schema_version", b"1"),
        ("trace_id", record.trace_id.encode()),
        ("ticket_id", record.ticket_id.encode()),
    ]
    if record.needs_review:
        expected.append(("needs_review", b"1"))
    assert headers == expected
    flagged = dataclasses.replace(record, needs_review=True)
    assert outgoing(flagged, "intake")[3] == [*expected[:3], ("needs_review", b"1")]
