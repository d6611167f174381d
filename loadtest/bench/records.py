"""The messages a bench run sends: the simulator's bodies (texts, channels and citizens of a surge day)."""

from __future__ import annotations

import orjson
from pydantic import TypeAdapter

from app.intake import build_record
from ingest.schemas.records import IntakeRecord
from ingest.schemas.submission import AnySubmission, Submission
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
    """The intake record the gateway puts on the bus for `body` (the gateway's own build_record)."""
    return build_record(_SUBMISSION.validate_python(orjson.loads(body)), None, secret).record()


def intake_records(n: int, run_id: str) -> list[IntakeRecord]:
    """`n` intake records of distinct tickets."""
    msgs = messages(n, run_id)
    return [intake_record(msgs.body(m)) for m in range(n)]
