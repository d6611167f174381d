"""`python -m judgement_lab.places_bench [--repeat N] [--json]`: the cost of `address.locate` per message.

CPU time of one process (`time.process_time`, so other jobs on a shared machine count less than in wall
time), the fastest of --repeat passes, over: the real-style messages of tests/unit/places_*.jsonl, the
Beijing evaluation set (corpus/incidents/), and the pool's texts (the contest's codes, 372 characters on
average) when the data folder is there. `places.extract_place`, which every signature already calls, is timed
in the same passes for scale.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from judgement_lab import dataset as ds
from workers.judgement.address import locate, scanner
from workers.judgement.places import extract_place

Message = tuple[str, str, str | None, str | None]  # title, content, district field, address field
REPO = Path(__file__).resolve().parents[1]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def message_sets(data_dir: Path | None = None) -> dict[str, list[Message]]:
    """The message sets that are present here."""
    sets: dict[str, list[Message]] = {}
    real = [REPO / "tests" / "unit" / n for n in ("places_real.jsonl", "places_holdout.jsonl")]
    if all(p.exists() for p in real):
        rows = [r for p in real for r in _jsonl(p)]
        sets["real-style (tests/unit)"] = [
            (r["title"], r["content"], r.get("district_field"), r.get("address_field")) for r in rows
        ]
    beijing = REPO / "corpus" / "incidents" / "beijing_eval.jsonl"
    if beijing.exists():
        sets["Beijing evaluation set"] = [
            (r["title"], r["text"], r["district"], None) for r in _jsonl(beijing)
        ]
    pool = (data_dir or ds.default_data_dir()) / ds.POOL
    if pool.exists():
        sets["pool (contest codes)"] = [
            (m.title, m.content, None, None) for m in ds.read_raw(pool.parent, ds.POOL)
        ]
    return sets


def _cpu_us(fn: Callable[[Message], object], messages: list[Message], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        for m in messages:
            fn(m)
        best = min(best, time.process_time() - t)
    return best / len(messages) * 1e6


def run(repeat: int, data_dir: Path | None = None) -> dict[str, Any]:
    """µs per message for locate and extract_place on every set present."""
    t = time.process_time()
    scanner()
    out: dict[str, Any] = {"build_s": round(time.process_time() - t, 3), "sets": {}}
    for name, messages in message_sets(data_dir).items():
        chars = sum(len(m[0]) + len(m[1]) for m in messages) / len(messages)
        out["sets"][name] = {
            "messages": len(messages),
            "mean_chars": round(chars),
            "locate_us": round(_cpu_us(lambda m: locate(*m), messages, repeat), 1),
            "extract_place_us": round(
                _cpu_us(lambda m: extract_place(m[0], m[1], m[2]), messages, repeat), 1
            ),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    report = run(args.repeat, args.data_dir)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    print(f"gazetteer built in {report['build_s']} s (CPU)")
    print("| messages | n | mean chars | locate µs | extract_place µs |")
    print("|---|---|---|---|---|")
    for name, r in report["sets"].items():
        print(
            f"| {name} | {r['messages']} | {r['mean_chars']} | {r['locate_us']} | {r['extract_place_us']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
