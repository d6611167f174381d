"""`python -m judgement_lab.bench`: predict and grouping throughput on one core over the pool's texts."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from judgement_lab import dataset as ds
from workers.judgement.grouping import GroupingMessage, build_engine
from workers.judgement.judge import Judge

BATCH = 256


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def run(judge: Judge, pool: list[ds.RawMessage], repeat: int) -> dict[str, Any]:
    """Messages per second for single and batched prediction, signatures and grouping."""
    msgs = [(m.title, m.content, None) for m in pool] * repeat
    n = len(msgs)
    judge.judge_many(msgs[:BATCH])  # warm-up: first-use costs (rjieba dictionary) are not throughput
    t = time.perf_counter()
    for title, content, district in msgs:
        judge.judge(title, content, district)
    single = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, n, BATCH):
        judge.judge_many(msgs[i : i + BATCH])
    batched = time.perf_counter() - t
    ordered = sorted(pool, key=lambda m: (m.submitted_at, m.id))
    t = time.perf_counter()
    sigs = [judge.signature(m.title, m.content) for m in ordered]
    signing = time.perf_counter() - t
    engine = build_engine(judge)
    t = time.perf_counter()
    for m, sig in zip(ordered, sigs, strict=True):
        message = GroupingMessage(m.id, m.title, m.content, m.submitted_at, citizen=m.user)
        engine.process(message, signature=sig)
    grouping = time.perf_counter() - t
    mean_chars = sum(len(m.title) + len(m.content) for m in pool) / len(pool)
    return {
        "messages": n,
        "mean_chars": round(mean_chars),
        "predict_single_msgs_per_s": _rate(n, single),
        "predict_batched_msgs_per_s": _rate(n, batched),
        "signature_msgs_per_s": _rate(len(pool), signing),
        "grouping_msgs_per_s": _rate(len(pool), grouping),
        "dedupe_total_msgs_per_s": _rate(len(pool), signing + grouping),
    }


def main(argv: list[str] | None = None) -> int:
    """Print throughput figures."""
    parser = argparse.ArgumentParser(prog="python -m judgement_lab.bench", description=__doc__)
    ds.add_data_dir_option(parser)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=1, help="passes over the pool for prediction")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target is stated
    judge = Judge.load(args.model)
    pool = ds.read_raw(args.data_dir or ds.default_data_dir(), ds.POOL)
    figures = run(judge, pool, args.repeat)
    if args.json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:<28} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
