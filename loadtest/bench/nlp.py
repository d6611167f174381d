"""`python -m loadtest.bench.nlp`: the workers' per-message judgement in a tight loop on one core.

Per message, what a worker does besides the database and the bus: decode the intake record, judge it
(normalise, tokenise, classify, urgency, route; `Judge.judge_many` per batch, as workers/batch.py), build its
issue signature and group it (resubmission and incident, `GroupingEngine.process` against in-memory stores, as
workers/linking.py does once the stores are seeded). Alternating with those passes, the urgent lane's sentinel
over the same records (decode, urgency model; workers/sentinel.py): what it adds per record of the normal
lane, as a share of the worker's judgement. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

from ingest.bus import BusMessage
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessProducer
from ingest.schemas.records import IntakeRecord
from ingest.settings import Settings
from ingest.topics import INTAKE, INTAKE_URGENT
from ingest.urgency.lane_budget import LaneBudget
from loadtest.bench.records import intake_records
from workers.judgement.grouping import GroupingMessage, build_engine
from workers.judgement.judge import Judge
from workers.sentinel import Sentinel

BATCH = 500


def judge_pass(judge: Judge, raw: list[bytes]) -> None:
    """One pass over `raw` in worker-sized batches, with a fresh grouping engine (as a fresh topic)."""
    engine = build_engine(judge)
    for start in range(0, len(raw), BATCH):
        records = [IntakeRecord.from_bytes(b) for b in raw[start : start + BATCH]]
        judge.judge_many([(r.title, r.content, r.district) for r in records])
        ordered = sorted(records, key=lambda r: (r.received_at, r.ticket_id))
        for r in ordered:
            msg = GroupingMessage(
                r.ticket_id, r.title, r.content, r.received_at, r.channel, r.district, r.citizen_key
            )
            engine.process(msg, signature=engine.signature(msg))


def sentinel_pass(sentinel: Sentinel, raw: list[bytes]) -> None:
    """One pass of the sentinel over `raw` in worker-sized batches (what it judges urgent is not sent)."""
    messages = [BusMessage(INTAKE.name, 0, i, None, b) for i, b in enumerate(raw)]

    async def run() -> None:
        for start in range(0, len(messages), BATCH):
            await sentinel.urgent(messages[start : start + BATCH])

    asyncio.run(run())


def measure(records: int, seconds: float) -> dict[str, Any]:
    """Messages per second over whole passes of `records` messages, for about `seconds`; the sentinel's
    passes alternate with the judgement's and take about as long again."""
    judge = Judge.load()
    producer = InProcessProducer(in_process_broker(Settings()))
    # No budget: every urgent record is counted as copied (the bench measures the judging, not the lane).
    sentinel = Sentinel(producer, judge.urgency, LaneBudget(0, 1), INTAKE_URGENT.name)
    raw = [r.to_bytes() for r in intake_records(records, "nlp")]
    judge_pass(judge, raw[:BATCH])  # warm-up: rjieba's dictionary and first-use costs are not throughput
    sentinel_pass(sentinel, raw[:BATCH])
    done, elapsed, cpu, sentinel_cpu = 0, 0.0, 0.0, 0.0
    while elapsed < seconds:
        started, cpu_started = time.perf_counter(), time.process_time()
        judge_pass(judge, raw)
        elapsed += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        cpu_started = time.process_time()
        sentinel_pass(sentinel, raw)
        sentinel_cpu += time.process_time() - cpu_started
        done += len(raw)
    return {
        "messages": done,
        "seconds": round(elapsed, 2),
        "nlp_rate": round(done / elapsed, 1),
        "nlp_rate_cpu": round(done / cpu, 1) if cpu > 0 else None,
        "sentinel_rate_cpu": round(done / sentinel_cpu, 1) if sentinel_cpu > 0 else None,
        "sentinel_share": round(sentinel_cpu / cpu, 3) if cpu > 0 else None,
        "mean_chars": round(sum(len(b) for b in raw) / len(raw)),
    }


def main(argv: list[str] | None = None) -> None:
    """Pin to one core, measure, print JSON."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.nlp", description=__doc__)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(json.dumps(measure(args.records, args.seconds)))


if __name__ == "__main__":
    main()
