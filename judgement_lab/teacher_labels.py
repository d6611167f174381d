"""The fine-tuned encoder's (the teacher's) categories for raw messages of ../shared/data, by file and message
id: written by `python -m judgement_lab.finetune`, read by training (`make train`) to distil the teacher
into the fast model. The file holds ids and labels only, never message text."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from judgement_lab import dataset as ds
from workers.judgement.artefact import MODEL_DIR

TEACHER_LABELS = MODEL_DIR / "teacher-labels.csv"
# The raw files the teacher labels, by the short name the labels file uses.
RAW_FILES = {"unlabelled": ds.UNLABELLED, "pool": ds.POOL, "replies": ds.REPLIES}


@dataclass(frozen=True)
class TeacherLabel:
    """The teacher's category for one raw message (`source` is a key of RAW_FILES)."""

    source: str
    id: str
    category: str
    confidence: float


def write_labels(labels: Sequence[TeacherLabel], path: Path = TEACHER_LABELS) -> None:
    """source, id, category, confidence (3 decimals), sorted by source and id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["source", "id", "category", "confidence"])
        for t in sorted(labels, key=lambda t: (t.source, t.id)):
            w.writerow([t.source, t.id, t.category, f"{t.confidence:.3f}"])


def read_labels(path: Path = TEACHER_LABELS) -> list[TeacherLabel]:
    """The labels as write_labels wrote them."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            TeacherLabel(r["source"], r["id"], r["category"], float(r["confidence"]))
            for r in csv.DictReader(fh)
        ]


def labels_digest(labels: Sequence[TeacherLabel]) -> str:
    """SHA-256 (first 16 hex digits) of the labels' (source, id, category), order-independent: the artefact
    records it, so a test can tell which labels it was distilled from."""
    lines = sorted(f"{t.source},{t.id},{t.category}" for t in labels)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def labelled_messages(
    labels: Sequence[TeacherLabel], messages: Mapping[str, Sequence[ds.RawMessage]]
) -> list[tuple[ds.RawMessage, TeacherLabel]]:
    """Each label with its message (`messages` by source name); a label whose message is missing is an
    error (the labels were made from another copy of the data)."""
    by_key = {(source, m.id): m for source, ms in messages.items() for m in ms}
    missing = [f"{t.source}:{t.id}" for t in labels if (t.source, t.id) not in by_key]
    if missing:
        raise ValueError(
            f"teacher labels for messages not in the data: {missing[:5]} ({len(missing)} in all)"
        )
    return [(by_key[(t.source, t.id)], t) for t in labels]
