"""`python -m loadtest.grouping_check`: the workers' whole grouping step against a surge plan's ground truth.

Builds the same plan and bodies as `python -m loadtest.surge` (same seed and scale), reads each body as the
gateway does (`intake_text`), judges it and runs it through the workers' `GroupingEngine` (resubmission
linking, then incidents) with in-memory stores, without the stack. It prints how many resubmissions were
linked to their own original and how much of the burst went to its largest incident.

`--order send` feeds the messages in send order, as one worker with no backlog sees them. `--order
partitions` feeds them as workers behind a backlog do: the records are spread over the intake topic's
partitions by citizen key, and batches are taken from one partition at a time, each partition at its own
pace, so a message can be grouped before an earlier one of another partition. Comparing the two separates
what the rule decides from what the order of a backlog does to it.
"""

from __future__ import annotations

import argparse
import json
import random
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter

from ingest.schemas.submission import AnySubmission, Submission, intake_text
from loadtest.bodies import Messages
from loadtest.plan import Kind, Plan, PlanSpec, build_plan
from workers.judgement.grouping import GroupingEngine, GroupingMessage, GroupingResult, build_engine
from workers.judgement.judge import Judge

_SUBMISSION: TypeAdapter[AnySubmission] = TypeAdapter(Submission)
_DAY = datetime(2026, 12, 1, tzinfo=UTC)
ORDERS = ("send", "partitions")


@dataclass(frozen=True)
class Record:
    """One message as the workers receive it."""

    m: int
    kind: Kind
    msg: GroupingMessage


def records(plan: Plan, messages: Messages) -> list[Record]:
    """The plan's valid messages (no client retries: the gateway answers those), in send order."""
    out: list[Record] = []
    for m in sorted(range(plan.messages), key=lambda i: (plan.msg_at[i], i)):
        kind = Kind(int(plan.msg_kind[m]))
        if kind == Kind.INVALID:
            continue
        sub = _SUBMISSION.validate_python(messages.payload(m))
        text = intake_text(sub)
        at = _DAY + timedelta(seconds=float(plan.msg_at[m]))
        msg = GroupingMessage(
            str(m), text.title, text.content, at, sub.channel, text.district, text.citizen_key
        )
        out.append(Record(m, kind, msg))
    return out


def partition_order(recs: list[Record], partitions: int, batch: int, seed: int) -> Iterator[list[Record]]:
    """Batches as lagging workers take them: one partition's next `batch` records at a time, the partition
    picked at random, so partitions run ahead of and behind each other."""
    queues: dict[int, list[Record]] = defaultdict(list)
    for rec in recs:
        key = (rec.msg.citizen or rec.msg.id).encode()
        queues[zlib.crc32(key) % partitions].append(rec)
    rng = random.Random(seed)
    heads = {p: 0 for p in queues}
    while heads:
        p = rng.choice(sorted(heads))
        start = heads[p]
        chunk = queues[p][start : start + batch]
        if start + batch >= len(queues[p]):
            del heads[p]
        else:
            heads[p] = start + batch
        yield sorted(chunk, key=lambda r: (r.msg.submitted_at, r.msg.id))


def grouped(
    batches: Iterable[list[Record]], judge: Judge, engine: GroupingEngine
) -> Iterator[tuple[Record, GroupingResult]]:
    """Each record with what the workers' grouping step decides for it, batch by batch."""
    for chunk in batches:
        judged = judge.judge_many([(r.msg.title, r.msg.content, r.msg.district) for r in chunk])
        for rec, judgement in zip(chunk, judged, strict=True):
            yield rec, engine.process(rec.msg, category=judgement.category)


def check(
    scale: float, replay_minutes: float, seed: int, *, order: str, partitions: int, batch: int
) -> dict[str, object]:
    """Resubmission links and the burst's grouping, as counts."""
    spec = PlanSpec(
        profile="surge-day", scale=scale, compression=1440 / replay_minutes, urgent_share=0.0, seed=seed
    )
    plan = build_plan(spec)
    messages = Messages(plan, "check")
    recs = records(plan, messages)
    judge = Judge.load()
    engine = build_engine(judge)
    batches = (
        partition_order(recs, partitions, batch, seed) if order == "partitions" else in_batches(recs, batch)
    )
    resubmissions: Counter[str] = Counter()
    # A repeat grouped before its original is linked when the original comes (GroupingResult.repeats).
    late: dict[str, str] = {}
    links: dict[int, str | None] = {}
    burst_incidents: Counter[str] = Counter()
    for rec, result in grouped(batches, judge, engine):
        late.update((repeat, result.id) for repeat in result.repeats)
        if rec.kind == Kind.RESUBMIT:
            links[rec.m] = result.duplicate_of
        elif rec.kind == Kind.BURST:
            burst_incidents[result.incident_id] += 1
    for m, linked_at_once in links.items():
        duplicate_of = linked_at_once or late.get(str(m))
        resubmissions["sent"] += 1
        if duplicate_of is None:
            resubmissions["unlinked"] += 1
        elif duplicate_of == str(int(plan.msg_ref[m])):
            resubmissions["linked"] += 1
        else:
            resubmissions["linked_elsewhere"] += 1
    # A merge later in the run moves earlier reports to the surviving incident, as it moves stored tickets.
    resolved: Counter[str] = Counter()
    for incident_id, n in burst_incidents.items():
        resolved[engine.resolve(incident_id)] += n
    burst_incidents = resolved
    burst_total = sum(burst_incidents.values())
    largest = burst_incidents.most_common(1)[0][1] if burst_incidents else 0
    return {
        "order": order,
        "messages": len(recs),
        "resubmissions": dict(resubmissions),
        "resubmissions_linked_share": round(resubmissions["linked"] / max(resubmissions["sent"], 1), 4),
        "burst": {
            "messages": burst_total,
            "incidents": len(burst_incidents),
            "largest": largest,
            "largest_share": round(largest / max(burst_total, 1), 4),
            "sizes": [n for _, n in burst_incidents.most_common(8)],
        },
    }


def in_batches(recs: list[Record], batch: int) -> Iterator[list[Record]]:
    for start in range(0, len(recs), batch):
        yield recs[start : start + batch]


def main(argv: list[str] | None = None) -> None:
    """Print the figures as JSON."""
    p = argparse.ArgumentParser(prog="python -m loadtest.grouping_check", description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=0.02, help="share of the 1.2 million-message day (0.02)")
    p.add_argument("--replay-minutes", type=float, default=15.0, help="as make surge's (15)")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--order", choices=ORDERS, default="send", help="send order, or lagging partitions")
    p.add_argument("--partitions", type=int, default=12, help="the intake topic's partitions (12)")
    p.add_argument("--batch", type=int, default=500, help="records per worker batch (500)")
    args = p.parse_args(argv)
    figures = check(
        args.scale,
        args.replay_minutes,
        args.seed,
        order=args.order,
        partitions=args.partitions,
        batch=args.batch,
    )
    print(json.dumps(figures, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
