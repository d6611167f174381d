"""`python -m judgement_lab.classify predict < in.jsonl > out.jsonl`: the worker's judgement, offline.

In: {"id", "title", "content", "district"?}. Out: {"id", "category", "category_confidence", "needs_review",
"urgency", "urgency_reason", "urgency_situation", "department", "district", "place"}, where `district`
is the input's or a real one the text names or implies, and `place` has province, city, district, street
(街道/乡镇), site (road, intersection, bridge, metro exit, estate, school, hospital…), site_kind, building
and district_source. Bad lines are reported on stderr and the exit status is 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from judgement_lab.jsonl import RecordError, read_records, record_id, report, text_field, write
from workers.judgement.address import locate
from workers.judgement.judge import Judge

BATCH = 256


def predict(judge: Judge, stream: IO[bytes], out: IO[bytes]) -> int:
    """Judge every record of stream; returns the number of bad lines."""
    bad = 0
    batch: list[tuple[str, str, str, str | None]] = []

    def flush() -> None:
        results = judge.judge_many([(t, c, d) for _, t, c, d in batch])
        for (rid, title, content, district), j in zip(batch, results, strict=True):
            row: dict[str, Any] = {
                "id": rid,
                **asdict(j),
                "place": locate(title, content, district).to_json(),
            }
            write(out, row)
        batch.clear()

    for n, rec in read_records(stream):
        try:
            if isinstance(rec, RecordError):
                raise rec
            district = text_field(rec, "district", n, required=False) or None
            batch.append(
                (
                    record_id(rec, n),
                    text_field(rec, "title", n, False),
                    text_field(rec, "content", n),
                    district,
                )
            )
        except RecordError as exc:
            report(exc)
            bad += 1
            continue
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return bad


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m judgement_lab.classify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="JSON Lines in on stdin, judgements out on stdout")
    p.add_argument("--model", type=Path, default=None, help="artefact (default: the committed one)")
    p.add_argument("--routing", type=Path, default=None, help="routing CSV (default: the committed table)")
    args = parser.parse_args(argv)
    judge = Judge.load(args.model, args.routing)
    bad = predict(judge, sys.stdin.buffer, sys.stdout.buffer)
    sys.stdout.flush()
    return 2 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
