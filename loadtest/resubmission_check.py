"""`python -m loadtest.resubmission_check`: the resubmission rule against a surge plan's ground truth.

Builds the same plan and bodies as `python -m loadtest.surge` (same seed and scale), reads each body as the
gateway does (`intake_text`), and runs every message in send order through the workers' `ResubmissionDetector`
with an in-memory store. It prints how many resubmissions find their own original, a wrong one, or none, in a
few seconds and without the stack; `make surge` measures the same end to end.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter

from ingest.schemas.submission import AnySubmission, Submission, intake_text
from loadtest.bodies import Messages
from loadtest.plan import Kind, PlanSpec, build_plan
from workers.judgement.resubmission import InMemoryResubmissionStore, PriorMessage, ResubmissionDetector

_SUBMISSION: TypeAdapter[AnySubmission] = TypeAdapter(Submission)


def check(scale: float, replay_minutes: float, seed: int) -> dict[str, int]:
    """Outcome counts of the plan's resubmissions: linked (to their original), wrong, unlinked."""
    spec = PlanSpec(
        profile="surge-day", scale=scale, compression=1440 / replay_minutes, urgent_share=0.0, seed=seed
    )
    plan = build_plan(spec)
    messages = Messages(plan, "check")
    detector = ResubmissionDetector(InMemoryResubmissionStore(), window=timedelta(days=1))
    day = datetime(2026, 12, 1, tzinfo=UTC)
    outcomes: Counter[str] = Counter()
    for m in sorted(range(plan.messages), key=lambda i: (plan.msg_at[i], i)):
        text = intake_text(_SUBMISSION.validate_python(messages.payload(m)))
        at = day + timedelta(seconds=float(plan.msg_at[m]))
        both = f"{text.title}\n{text.content}"
        found = detector.find_original(text.citizen_key, both, at, text.content)
        if plan.msg_kind[m] == Kind.RESUBMIT:
            same_citizen = text.citizen_key is not None and text.citizen_key == _citizen(
                messages, plan.msg_ref[m]
            )
            outcomes["resubmissions"] += 1
            outcomes["same_citizen_key"] += same_citizen
            if found is None:
                outcomes["unlinked"] += 1
            else:
                outcomes["linked" if found.id == str(int(plan.msg_ref[m])) else "wrong"] += 1
        elif found is None:
            detector.remember(
                text.citizen_key, PriorMessage(str(m), both, at, None, text.citizen_key), text.content
            )
        else:
            outcomes["other_messages_linked"] += 1  # an original taken for a repeat: also a wrong link
    return dict(outcomes)


def _citizen(messages: Messages, m: int) -> str | None:
    return intake_text(_SUBMISSION.validate_python(messages.payload(int(m)))).citizen_key


def main(argv: list[str] | None = None) -> None:
    """Print the outcome counts as JSON."""
    p = argparse.ArgumentParser(
        prog="python -m loadtest.resubmission_check", description=__doc__.splitlines()[0]
    )
    p.add_argument("--scale", type=float, default=0.05, help="share of the 1.2 million-message day (0.05)")
    p.add_argument("--replay-minutes", type=float, default=15.0, help="as make surge's (15)")
    p.add_argument("--seed", type=int, default=12345)
    args = p.parse_args(argv)
    print(json.dumps(check(args.scale, args.replay_minutes, args.seed), indent=1))


if __name__ == "__main__":
    main()
