"""Figures on the hand-labelled Beijing address set (corpus/incidents/, see its README): incident grouping
(pairwise precision / recall / F1, through the same engine and window as the gold-sample figures) and
district accuracy where the text names the district and where only a street, township or area does.

`python -m judgement_lab.evaluate` prints these after the gold-sample figures."""

from __future__ import annotations

import csv
import importlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

from judgement_lab.precision_recall import PairwiseScore, pairwise
from workers.judgement.grouping import GroupingMessage, build_engine
from workers.judgement.judge import Judge
from workers.judgement.places import extract_place

REPO = Path(__file__).resolve().parents[1]
ADDRESS_SET = REPO / "corpus" / "incidents" / "beijing_eval.jsonl"
DISTRACTORS = REPO / "corpus" / "incidents" / "beijing_distractors.csv"
# The development set the incident rule was tuned on (written apart from the evaluation set, same format).
DEV_SET = REPO / "corpus" / "incidents" / "beijing_dev.jsonl"
DEV_DISTRACTORS = REPO / "corpus" / "incidents" / "beijing_dev_distractors.csv"
CHANNELS = ("wechat", "web", "phone")
DISTRACTOR_KINDS = ("same_place_other_problem", "same_problem_other_place")
_FIELDS = ("id", "channel", "title", "text", "received_at", "incident", "true_district", "district_named")
# How many misses of each district figure the report lists.
SHOWN_MISSES = 5

# (title, content, adapter district or None) -> the district the place code finds, or None.
DistrictFn = Callable[[str, str, str | None], str | None]


@dataclass(frozen=True)
class AddressMessage:
    """One message of the set with its hand labels."""

    id: str
    channel: str
    title: str
    text: str
    received_at: datetime
    district: str | None  # the adapter's district field, as a ticket would carry it
    incident: str | None  # None: the message belongs to no incident of two or more
    true_district: str | None  # None: the text does not allow one
    district_named: bool  # the text itself names the district
    citizen: str | None
    note: str


def read_address_set(path: Path = ADDRESS_SET) -> list[AddressMessage]:
    """The set's messages in file order; ValueError naming the line on a malformed one."""
    out: list[AddressMessage] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(_parse(json.loads(line)))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{n}: {e}") from e
            if out[-1].id in seen:
                raise ValueError(f"{path}:{n}: duplicate id {out[-1].id}")
            seen.add(out[-1].id)
    return out


def _optional(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} must be a string or null")
    return value or None


def _parse(d: Mapping[str, Any]) -> AddressMessage:
    missing = [k for k in _FIELDS if k not in d]
    if missing:
        raise KeyError(f"missing {missing}")
    if d["channel"] not in CHANNELS:
        raise ValueError(f"channel {d['channel']!r} not one of {CHANNELS}")
    at = datetime.fromisoformat(d["received_at"])
    if at.tzinfo is None:
        raise ValueError("received_at needs an offset (+08:00)")
    if not isinstance(d["district_named"], bool):
        raise TypeError("district_named must be true or false")
    if not d["text"]:
        raise ValueError("empty text")
    return AddressMessage(
        id=str(d["id"]),
        channel=d["channel"],
        title=str(d["title"]),
        text=str(d["text"]),
        received_at=at,
        district=_optional(d, "district"),
        incident=_optional(d, "incident"),
        true_district=_optional(d, "true_district"),
        district_named=d["district_named"],
        citizen=_optional(d, "citizen"),
        note=str(d.get("note", "")),
    )


def read_distractors(path: Path = DISTRACTORS) -> list[tuple[str, str, str]]:
    """(incident_a, incident_b, kind): incident pairs that must stay apart."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [(r["incident_a"], r["incident_b"], r["kind"]) for r in csv.DictReader(fh)]


def gold_groups(messages: Sequence[AddressMessage]) -> dict[str, int]:
    """Message id -> a group number (0: no incident), the form metrics.pairwise scores."""
    numbers: dict[str, int] = {}
    return {m.id: numbers.setdefault(m.incident, len(numbers) + 1) if m.incident else 0 for m in messages}


def score_grouping(messages: Sequence[AddressMessage], predicted: Mapping[str, str]) -> PairwiseScore:
    """Pairwise precision / recall / F1 of predicted incident ids against the hand labels."""
    return pairwise(gold_groups(messages), predicted)


def group_messages(
    judge: Judge, messages: Sequence[AddressMessage], window_days: float | None
) -> tuple[dict[str, str], int]:
    """The deduplication engine over the set in received_at order, each message as the worker builds it
    (channel, the adapter's district, citizen); returns the incident per id and the resubmissions linked."""
    engine = build_engine(judge, window=timedelta(days=window_days) if window_days else None)
    incident: dict[str, str] = {}
    linked = 0
    for m in sorted(messages, key=lambda m: (m.received_at, m.id)):
        r = engine.process(
            GroupingMessage(m.id, m.title, m.text, m.received_at, m.channel, m.district, m.citizen)
        )
        incident[m.id] = r.incident_id
        linked += r.duplicate_of is not None
    return {i: engine.resolve(inc) for i, inc in incident.items()}, linked


def distractor_merges(
    messages: Sequence[AddressMessage],
    predicted: Mapping[str, str],
    distractors: Sequence[tuple[str, str, str]],
) -> dict[str, dict[str, Any]]:
    """Per kind: how many distractor incident pairs had at least one message of each put into one incident."""
    members: dict[str, set[str]] = {}
    for m in messages:
        if m.incident:
            members.setdefault(m.incident, set()).add(predicted[m.id])
    out: dict[str, dict[str, Any]] = {
        k: {"pairs": 0, "merged": 0, "merged_pairs": []} for k in DISTRACTOR_KINDS
    }
    for a, b, kind in distractors:
        entry = out.setdefault(kind, {"pairs": 0, "merged": 0, "merged_pairs": []})
        entry["pairs"] += 1
        if members.get(a, set()) & members.get(b, set()):
            entry["merged"] += 1
            entry["merged_pairs"].append(f"{a} + {b}")
    return out


def recall_by_channels(messages: Sequence[AddressMessage], predicted: Mapping[str, str]) -> dict[str, Any]:
    """Share of same-incident pairs grouped, by the two messages' channels ("phone+web" …)."""
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for a, b in combinations(messages, 2):
        if a.incident and a.incident == b.incident:
            key = "+".join(sorted((a.channel, b.channel)))
            total[key] += 1
            found[key] += predicted[a.id] == predicted[b.id]
    return {k: {"pairs": total[k], "recall": round(found[k] / total[k], 4)} for k in sorted(total)}


def place_function() -> tuple[str, DistrictFn]:
    """The district finder to score: `workers.judgement.address.locate` (real places) where that module
    exists, else `places.extract_place` (the contest's codes, and the adapter's field as given)."""
    try:
        module = importlib.import_module("workers.judgement.address")
    except ImportError:
        module = None
    locate = getattr(module, "locate", None)
    if callable(locate):

        def via_locate(title: str, content: str, district: str | None) -> str | None:
            value = getattr(locate(title, content, district), "district", None)
            return value if isinstance(value, str) else None

        return "workers.judgement.address.locate", via_locate

    def via_places(title: str, content: str, district: str | None) -> str | None:
        return extract_place(title, content, district).district

    return "workers.judgement.places.extract_place", via_places


def _accuracy(rows: Sequence[tuple[AddressMessage, str | None]]) -> dict[str, Any]:
    correct = sum(got == m.true_district for m, got in rows)
    misses = [
        {"id": m.id, "expected": m.true_district, "got": got, "text": (m.title + " " + m.text).strip()[:60]}
        for m, got in rows
        if got != m.true_district
    ]
    return {
        "n": len(rows),
        "correct": correct,
        "accuracy": round(correct / len(rows), 4) if rows else None,
        "no_district": sum(got is None for _, got in rows),
        "misses": misses,
    }


def district_accuracy(messages: Sequence[AddressMessage], find: DistrictFn) -> dict[str, Any]:
    """Accuracy on messages with a known district: from the text alone (the adapter's field withheld)
    where the text names the district and where only a street / township / area does, and with the
    adapter's field as sent (on every message with a known district)."""
    known = [m for m in messages if m.true_district]
    text_only = [(m, find(m.title, m.text, None)) for m in known]
    return {
        "named": _accuracy([(m, got) for m, got in text_only if m.district_named]),
        "area_only": _accuracy([(m, got) for m, got in text_only if not m.district_named]),
        "with_field": _accuracy([(m, find(m.title, m.text, m.district)) for m in known]),
    }


def evaluate_address_set(
    judge: Judge, windows: Sequence[float | None], path: Path = ADDRESS_SET, distractors: Path = DISTRACTORS
) -> dict[str, Any]:
    """Every figure of the set: its size, grouping per window, distractors, channels and districts."""
    messages = read_address_set(path)
    pairs = read_distractors(distractors)
    incidents = Counter(m.incident for m in messages if m.incident)
    grouping = []
    for w in windows:
        predicted, linked = group_messages(judge, messages, w)
        s = score_grouping(messages, predicted)
        sizes = Counter(predicted.values())
        grouping.append(
            {
                "window_days": w or judge.artefact.meta["grouping"]["window_days"],
                "precision": s.precision,
                "recall": s.recall,
                "f1": s.f1,
                "gold_pairs": s.true_pairs,
                "predicted_pairs": s.predicted_pairs,
                "incidents": len(sizes),
                "largest_incident": max(sizes.values()),
                "resubmissions_linked": linked,
                "distractors": distractor_merges(messages, predicted, pairs),
                "recall_by_channels": recall_by_channels(messages, predicted),
            }
        )
    name, find = place_function()
    return {
        "path": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path),
        "messages": len(messages),
        "incidents": len(incidents),
        "singletons": sum(1 for m in messages if not m.incident),
        "channels": dict(Counter(m.channel for m in messages)),
        "grouping": grouping,
        "place_function": name,
        "district": district_accuracy(messages, find),
    }


def print_address_report(report: Mapping[str, Any]) -> None:
    """The set's figures as lines of text."""
    print(
        f"address set {report['path']}: {report['messages']} messages, {report['incidents']} incidents, "
        f"{report['singletons']} singletons, channels {report['channels']}"
    )
    for g in report["grouping"]:
        print(
            f"address set grouping window={g['window_days']}d: P={g['precision']:.3f} R={g['recall']:.3f} "
            f"F1={g['f1']:.3f} (gold pairs {g['gold_pairs']}, predicted {g['predicted_pairs']}); "
            f"{g['incidents']} incidents, largest {g['largest_incident']}, "
            f"{g['resubmissions_linked']} resubmissions linked"
        )
        for kind, d in g["distractors"].items():
            print(f"    distractors {kind}: {d['merged']} of {d['pairs']} incident pairs merged")
        by_channel = ", ".join(
            f"{k} {v['recall']:.2f} (n={v['pairs']})" for k, v in g["recall_by_channels"].items()
        )
        print(f"    pair recall by channels: {by_channel}")
    print(f"address set district accuracy, by {report['place_function']}:")
    labels = {
        "named": "text names the district (field withheld)",
        "area_only": "only a street / township / area names it (field withheld)",
        "with_field": "with the adapter's field as sent",
    }
    for key, label in labels.items():
        d = report["district"][key]
        acc = "n/a" if d["accuracy"] is None else f"{d['accuracy']:.4f}"
        print(f"    {label}: {acc} ({d['correct']}/{d['n']}, {d['no_district']} without a district)")
        for miss in d["misses"][:SHOWN_MISSES]:
            print(f"        {miss['id']} expected {miss['expected']} got {miss['got']}: {miss['text']}")
