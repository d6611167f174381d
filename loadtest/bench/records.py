"""The messages a bench run sends: the simulator's bodies (texts, channels and citizens of a surge day)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
from pydantic import TypeAdapter

from ingest.schemas.records import INTAKE_SCHEMA_VERSION, IntakeRecord
from ingest.schemas.submission import AnySubmission, Submission, external_id_of, intake_text
from ingest.tickets import idempotency_key_for, new_ticket_id
from loadtest.bench.wrk import ID_MARK
from loadtest.bodies import Messages
from loadtest.plan import PlanSpec, build_plan

_SUBMISSION: TypeAdapter[AnySubmission] = TypeAdapter(Submission)
BENCH_SECRET = "jiesu-bench-ticket-secret"


def messages(n: int, run_id: str, seed: int = 12345) -> Messages:
    """`n` valid messages (no invalid ones, no client retries; 2 % resubmissions as on a surge day)."""
    spec = PlanSpec(
        profile="constant",
        messages=n,
        rate=max(1.0, n / 60),
        constant_duration_s=60,
        retry_share=0.0,
        invalid_share=0.0,
        seed=seed,
    )
    return Messages(build_plan(spec), run_id)


def bodies(n: int) -> list[str]:
    """`n` JSON bodies for POST /v1/complaints with ID_MARK where the external id's run part goes."""
    msgs = messages(n, ID_MARK)
    return [msgs.body(m).decode() for m in range(n)]


def batch_bodies(n_batches: int, items: int) -> list[str]:
    """Bodies for POST /v1/complaints/batch, `items` submissions each, external ids distinct per body."""
    out = []
    for b in range(n_batches):
        msgs = messages(items, f"{ID_MARK}b{b}", seed=12345 + b)
        out.append('{"items":[' + ",".join(msgs.body(m).decode() for m in range(items)) + "]}")
    return out


def intake_record(body: bytes, secret: str = BENCH_SECRET) -> IntakeRecord:
    """The intake record the gateway would put on the bus for `body` (as app/intake.build_record does)."""
    sub = _SUBMISSION.validate_python(orjson.loads(body))
    external_id = external_id_of(sub)
    text = intake_text(sub)
    return IntakeRecord(
        schema_version=INTAKE_SCHEMA_VERSION,
        ticket_id=new_ticket_id(secret, idempotency_key_for(sub.channel, external_id, None)),
        channel=sub.channel,
        external_id=external_id,
        received_at=datetime.now(UTC),
        title=text.title,
        content=text.content,
        citizen_key=text.citizen_key,
        district=text.district,
        address=text.address,
        review_reasons=text.review_reasons,
        trace_id=uuid.uuid4().hex,
        submission=sub.model_dump(mode="json", exclude_none=True),
    )


def intake_records(n: int, run_id: str) -> list[IntakeRecord]:
    """`n` intake records of distinct tickets."""
    msgs = messages(n, run_id)
    return [intake_record(msgs.body(m)) for m in range(n)]
