"""`python -m judgement_lab.group group < in.jsonl > out.jsonl`: resubmissions and incidents, offline.

In (in submission order): {"id", "title", "content", "submitted_at", "channel"?, "district"?, "citizen"?}.
Out: {"id", "incident_id", "duplicate_of", "merged"}; "merged" lists the incidents this message showed to be
its own: earlier lines naming one of them now belong to its incident. Bad lines are reported on stderr and
the exit status is 2.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import IO

from judgement_lab.jsonl import RecordError, read_records, record_id, report, text_field, timestamp, write
from workers.judgement.grouping import GroupingEngine, GroupingMessage, build_engine
from workers.judgement.judge import Judge


def group(engine: GroupingEngine, stream: IO[bytes], out: IO[bytes]) -> int:
    """Process every record in order; returns the number of bad lines."""
    bad = 0
    for n, rec in read_records(stream):
        try:
            if isinstance(rec, RecordError):
                raise rec
            msg = GroupingMessage(
                id=record_id(rec, n),
                title=text_field(rec, "title", n, required=False),
                content=text_field(rec, "content", n),
                submitted_at=timestamp(rec.get("submitted_at"), n),
                channel=text_field(rec, "channel", n, required=False) or None,
                district=text_field(rec, "district", n, required=False) or None,
                citizen=text_field(rec, "citizen", n, required=False) or None,
            )
        except RecordError as exc:
            report(exc)
            bad += 1
            continue
        r = engine.process(msg)
        line = {"id": r.id, "incident_id": r.incident_id, "duplicate_of": r.duplicate_of, "merged": r.merged}
        write(out, line)
    return bad


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m judgement_lab.group",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("group", help="JSON Lines in on stdin (submission order), links out on stdout")
    p.add_argument("--model", type=Path, default=None, help="artefact (default: the committed one)")
    p.add_argument(
        "--window-days", type=float, default=None, help="incident window (default: the artefact's)"
    )
    p.add_argument(
        "--threshold", type=float, default=None, help="match score to join (default: the artefact's)"
    )
    p.add_argument("--default-city", default="A", help="bucket of messages that name no city")
    args = parser.parse_args(argv)
    judge = Judge.load(args.model)
    window = timedelta(days=args.window_days) if args.window_days else None
    engine = build_engine(judge, window=window, threshold=args.threshold, default_city=args.default_city)
    bad = group(engine, sys.stdin.buffer, sys.stdout.buffer)
    sys.stdout.flush()
    return 2 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
