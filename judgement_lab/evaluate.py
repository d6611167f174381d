"""`python -m judgement_lab.evaluate`: category figures on the held-out split, incident grouping
figures on the gold sample inside the hot-issue pool and on the hand-labelled Beijing address set
(corpus/incidents/, with district accuracy), for the committed (or a given) artefact."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from judgement_lab import dataset as ds
from judgement_lab.address_eval import (
    ADDRESS_SET,
    DEV_DISTRACTORS,
    DEV_SET,
    evaluate_address_set,
    print_address_report,
)
from judgement_lab.precision_recall import classification_figures, pairwise
from judgement_lab.training import read_corpus
from workers.judgement.grouping import GroupingMessage, build_engine
from workers.judgement.incidents import bucket_for
from workers.judgement.judge import Judge


def evaluate_categories(judge: Judge, data_dir: Path) -> dict[str, Any]:
    """Figures on held-out rows: their token text, and the raw title + content where it was recovered."""
    corpus = read_corpus(data_dir, int(judge.artefact.meta["seed"]))
    lab = corpus.labelled
    held = [lab[i] for i in corpus.split.held_out]
    token_pred = judge.classifier.predict([list(r.tokens) for r in held])
    raw_rows = [(lab[i], m) for i, m in corpus.split.raw_eval]
    raw_j = judge.judge_many([(m.title, m.content, None) for _, m in raw_rows])
    truth_raw = [r.category for r, _ in raw_rows]
    confident = [(j.category, t) for j, t in zip(raw_j, truth_raw, strict=True) if not j.needs_review]
    return {
        "held_out_tokens": classification_figures(
            [r.category for r in held], [p.category for p in token_pred]
        ),
        "held_out_raw": classification_figures(truth_raw, [j.category for j in raw_j]),
        "raw_review": {
            "needs_review_share": round(1 - len(confident) / max(1, len(raw_j)), 4),
            "accuracy_when_confident": round(sum(c == t for c, t in confident) / max(1, len(confident)), 4),
        },
        "taxonomy_first_level": len(corpus.categories),
        "trained_classes": judge.classifier.classes,
    }


def group_pool(
    judge: Judge, pool: list[ds.RawMessage], window_days: float | None
) -> tuple[dict[str, str], int]:
    """Run deduplication over the pool in submission order; returns incident per id and duplicates."""
    window = timedelta(days=window_days) if window_days else None
    engine = build_engine(judge, window=window)
    incident: dict[str, str] = {}
    duplicates = 0
    for m in sorted(pool, key=lambda m: (m.submitted_at, m.id)):
        r = engine.process(GroupingMessage(m.id, m.title, m.content, m.submitted_at, citizen=m.user))
        incident[m.id] = r.incident_id
        duplicates += r.duplicate_of is not None
    return {i: engine.resolve(inc) for i, inc in incident.items()}, duplicates


def bucket_check(judge: Judge, gold: list[ds.RawMessage]) -> dict[str, dict[str, list[str]]]:
    """The buckets each gold group falls into, by city (the default) and by district: one bucket per
    group means the bucket lock never separates messages about one issue."""
    out: dict[str, dict[str, list[str]]] = {}
    for by_district in (False, True):
        groups: dict[str, set[str]] = {}
        for m in gold:
            if m.issue_group:
                b = bucket_for(judge.signature(m.title, m.content), "A", by_district)
                groups.setdefault(str(m.issue_group), set()).add(b)
        out["district" if by_district else "city"] = {g: sorted(b) for g, b in sorted(groups.items())}
    return out


def evaluate_grouping(judge: Judge, data_dir: Path, windows: list[float | None]) -> list[dict[str, Any]]:
    """Pairwise figures on the gold sample for each window (None = the artefact's default)."""
    pool = ds.read_raw(data_dir, ds.POOL)
    gold = {m.id: m.issue_group for m in ds.read_raw(data_dir, ds.GOLD)}
    missing = sorted(set(gold) - {m.id for m in pool})
    if missing:
        raise ValueError(f"gold ids not in the pool: {missing}")
    out = []
    for w in windows:
        started = time.perf_counter()
        incident, duplicates = group_pool(judge, pool, w)
        seconds = time.perf_counter() - started
        sizes = Counter(incident.values())
        score = pairwise(gold, incident)
        out.append(
            {
                "window_days": w or judge.artefact.meta["grouping"]["window_days"],
                "precision": score.precision,
                "recall": score.recall,
                "f1": score.f1,
                "gold_pairs": score.true_pairs,
                "predicted_pairs": score.predicted_pairs,
                "pool_messages": len(pool),
                "incidents": len(sizes),
                "incidents_with_2_plus": sum(1 for s in sizes.values() if s > 1),
                "largest_incident": max(sizes.values()),
                "resubmissions_linked": duplicates,
                "messages_per_second": round(len(pool) / seconds),
            }
        )
    return out


def _print(report: dict[str, Any]) -> None:
    for name in ("held_out_tokens", "held_out_raw"):
        f = report["categories"][name]
        print(f"category {name}: n={f['n']} accuracy={f['accuracy']:.4f} macro-F1={f['macro_f1']:.4f}")
        for c, v in f["per_class"].items():
            print(f"    {c:<8} P={v['precision']:.3f} R={v['recall']:.3f} F1={v['f1']:.3f} n={v['support']}")
    rv = report["categories"]["raw_review"]
    share, acc = rv["needs_review_share"], rv["accuracy_when_confident"]
    print(f"raw: needs_review {share:.1%}, accuracy of the rest {acc:.4f}")
    for granularity, groups in report["gold_group_buckets"].items():
        print(f"gold groups' buckets by {granularity}: {groups}")
    for g in report["grouping"]:
        print(
            f"grouping window={g['window_days']}d: P={g['precision']:.3f} R={g['recall']:.3f} "
            f"F1={g['f1']:.3f} (gold pairs {g['gold_pairs']}, predicted {g['predicted_pairs']}); "
            f"pool {g['pool_messages']} -> {g['incidents']} incidents, {g['incidents_with_2_plus']} with 2+, "
            f"largest {g['largest_incident']}, {g['resubmissions_linked']} resubmissions linked"
        )
    print_address_report(report["address_set"])
    if "dev_set" in report:
        print_address_report(report["dev_set"])


def main(argv: list[str] | None = None) -> int:
    """Print the evaluation figures (or JSON with --json)."""
    parser = argparse.ArgumentParser(prog="python -m judgement_lab.evaluate", description=__doc__)
    ds.add_data_dir_option(parser)
    parser.add_argument("--model", type=Path, default=None, help="artefact (default: the committed one)")
    parser.add_argument(
        "--window-days",
        type=float,
        action="append",
        default=None,
        help="grouping window(s) to score; default: the artefact's, 30 and 1000",
    )
    parser.add_argument(
        "--address-set", type=Path, default=ADDRESS_SET, help="the Beijing address set (JSON Lines)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or ds.default_data_dir()
    judge = Judge.load(args.model)
    windows: list[float | None] = args.window_days or [None, 30.0, 1000.0]
    report = {
        "model_version": judge.model_version,
        "categories": evaluate_categories(judge, data_dir),
        "grouping": evaluate_grouping(judge, data_dir, windows),
        "gold_group_buckets": bucket_check(judge, ds.read_raw(data_dir, ds.GOLD)),
        "address_set": evaluate_address_set(judge, windows, args.address_set),
    }
    if DEV_SET.exists():
        report["dev_set"] = evaluate_address_set(judge, windows, DEV_SET, DEV_DISTRACTORS)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(f"model {report['model_version']}")
        _print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
