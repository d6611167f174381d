"""Read the reference data set from the shared folder (never copied into the repository)."""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "JIESU_TRAINING_DATA_DIR"
# The variable that named both this folder and the services' state folder; refused rather than ignored, so
# that a stale setting does not silently train on another folder than the one meant.
AMBIGUOUS_ENV = "JIESU_DATA_DIR"

LABELLED = "messages_labelled_tokens.csv"
UNLABELLED = "messages_unlabelled.csv"
POOL = "messages_hot_issue_pool.csv"
GOLD = "messages_same_issue_gold_sample.csv"
REPLIES = "messages_with_replies.csv"
TAXONOMY = "taxonomy.csv"


def default_data_dir() -> Path:
    """`$JIESU_TRAINING_DATA_DIR` if set, else `<repo>/../shared/data`."""
    if os.environ.get(AMBIGUOUS_ENV) and not os.environ.get(DATA_DIR_ENV):
        raise SystemExit(
            f"{AMBIGUOUS_ENV} is not read: set {DATA_DIR_ENV} for the training data "
            "(JIESU_STATE_DIR is the services' state folder)"
        )
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """The `--data-dir` option every command that reads the training data takes."""
    parser.add_argument(
        "--data-dir", type=Path, default=None, help=f"default: ${DATA_DIR_ENV} or ../shared/data"
    )


@dataclass(frozen=True)
class LabelledRow:
    """One row of the labelled training file: pre-cut jieba tokens and a first-level category."""

    row: int
    tokens: tuple[str, ...]
    category: str


@dataclass(frozen=True)
class RawMessage:
    """A raw citizen message as posted: title and detail text, author and time."""

    id: str
    user: str
    title: str
    content: str
    submitted_at: datetime
    issue_group: int = 0


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def parse_time(value: str) -> datetime:
    """Parse the data set's two timestamp spellings (2019/2/28 11:25:05 and 2019-02-28 11:25:05)."""
    value = value.strip().replace("/", "-")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise ValueError(f"unrecognised timestamp {value!r}")


def read_labelled(data_dir: Path) -> list[LabelledRow]:
    """The labelled training rows."""
    return [
        LabelledRow(int(r["row"]), tuple(r["tokens"].split()), r["category"].strip())
        for r in _rows(data_dir / LABELLED)
    ]


def read_raw(data_dir: Path, name: str) -> list[RawMessage]:
    """Raw messages of one of the raw files (unlabelled, pool, gold sample, replies)."""
    return [
        RawMessage(
            id=r["留言编号"].strip(),
            user=r["留言用户"].strip(),
            title=r["留言主题"].strip(),
            content=r["留言详情"].strip(),
            submitted_at=parse_time(r["留言时间"]),
            issue_group=int(r.get("issue_group") or 0),
        )
        for r in _rows(data_dir / name)
    ]


def read_first_level_categories(data_dir: Path) -> list[str]:
    """The 15 first-level category names of the taxonomy, in file order."""
    seen: dict[str, None] = {}
    for r in _rows(data_dir / TAXONOMY):
        seen.setdefault(r["一级分类"].strip(), None)
    return list(seen)
