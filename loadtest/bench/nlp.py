"""`python -m loadtest.bench.nlp`: the workers' per-message judgement in a tight loop on one core.

Per message, what a worker does besides the database and the bus: decode the intake record, judge it
(normalise, tokenise, classify, urgency, route; `Judge.judge_many` per batch, as workers/batch.py), build its
issue signature and group it (resubmission and incident, `GroupingEngine.process` against in-memory stores, as
workers/linking.py does once the stores are seeded). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from ingest.schemas.records import IntakeRecord
from loadtest.bench.records import intake_records
from workers.judgement.grouping import GroupingMessage, build_engine
from workers.judgement.judge import Judge

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


def measure(records: int, seconds: float) -> dict[str, Any]:
    """Messages per second over whole passes of `records` messages, for about `seconds`."""
    judge = Judge.load()
    raw = [r.to_bytes() for r in intake_records(records, "nlp")]
    judge_pass(judge, raw[:BATCH])  # warm-up: rjieba's dictionary and first-use costs are not throughput
    done, started = 0, time.perf_counter()
    cpu_started = time.process_time()
    while True:
        judge_pass(judge, raw)
        done += len(raw)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
    cpu = time.process_time() - cpu_started
    return {
        "messages": done,
        "seconds": round(elapsed, 2),
        "nlp_rate": round(done / elapsed, 1),
        "nlp_rate_cpu": round(done / cpu, 1) if cpu > 0 else None,
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
