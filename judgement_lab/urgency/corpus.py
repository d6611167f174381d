"""The labelled urgency corpus (corpus/urgency/): hand-written messages, and hand labels of real ones."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from ingest.urgency.catalogue import LEVELS, NORMAL

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIR = PROJECT_ROOT / "corpus" / "urgency"
# The reference data's raw message files, whose ids shared_data_labels.csv names.
SHARED_FILES = ("messages_unlabelled.csv", "messages_hot_issue_pool.csv", "messages_with_replies.csv")


@dataclass(frozen=True)
class Example:
    """One labelled message."""

    id: str
    channel: str
    title: str
    text: str
    level: str
    situation: str | None
    kind: str
    source: str

    @property
    def urgent(self) -> bool:
        """Critical or high."""
        return self.level in LEVELS


def _from_json(line: bytes, source: str) -> Example:
    raw = orjson.loads(line)
    return Example(
        id=raw["id"],
        channel=raw.get("channel", "web"),
        title=raw.get("title") or "",
        text=raw["text"],
        level=raw["level"],
        situation=raw.get("situation") if raw["level"] != NORMAL else None,
        kind=raw.get("kind", "urgent" if raw["level"] != NORMAL else "ordinary"),
        source=source,
    )


def written(split: str, corpus_dir: Path = CORPUS_DIR) -> list[Example]:
    """The hand-written messages of a split: `train` (train_*.jsonl) or `test` (test_*.jsonl, frozen)."""
    out: list[Example] = []
    for path in sorted(corpus_dir.glob(f"{split}_*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line.strip():
                out.append(_from_json(line, path.name))
    return out


def _shared_messages(data_dir: Path) -> dict[tuple[str, str], tuple[str, str]]:
    texts: dict[tuple[str, str], tuple[str, str]] = {}
    for name in SHARED_FILES:
        path = data_dir / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                texts[(name, row["留言编号"].strip())] = (row["留言主题"].strip(), row["留言详情"].strip())
    return texts


def shared(split: str, data_dir: Path, corpus_dir: Path = CORPUS_DIR) -> Iterator[Example]:
    """Real messages of ../shared/data labelled in shared_data_labels.csv, for one split (text read from
    data_dir: the messages stay out of the repository). Missing data files yield nothing."""
    labels = corpus_dir / "shared_data_labels.csv"
    if not labels.exists():
        return
    texts = _shared_messages(data_dir)
    with labels.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["split"] != split or (row["file"], row["message_id"]) not in texts:
                continue
            title, text = texts[(row["file"], row["message_id"])]
            level = row["level"].strip()
            yield Example(
                id=f"shared:{row['message_id']}",
                channel="web",
                title=title,
                text=text,
                level=level,
                situation=(row["situation"].strip() or None) if level != NORMAL else None,
                kind=row["kind"].strip(),
                source="shared_data_labels.csv",
            )


def examples(split: str, data_dir: Path | None) -> list[Example]:
    """Every labelled message of a split: the written ones, and the real ones when data_dir is given."""
    out = written(split)
    if data_dir is not None:
        out.extend(shared(split, data_dir))
    return out
