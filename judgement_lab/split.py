"""The deterministic train / held-out split of the labelled rows."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from judgement_lab.alignment import near_duplicate_groups
from judgement_lab.dataset import LabelledRow, RawMessage

SEED = 20200401
HELD_OUT_PERCENT = 20


@dataclass(frozen=True)
class Split:
    """Indices into the labelled rows; raw_eval pairs a held-out row with its recovered raw message."""

    train: tuple[int, ...]
    held_out: tuple[int, ...]
    raw_eval: tuple[tuple[int, RawMessage], ...]


def _bucket(seed: int, key: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") % 100


def make_split(
    labelled: Sequence[LabelledRow], raw_by_row: Mapping[int, RawMessage], seed: int = SEED
) -> Split:
    """Hold out ~20% of near-duplicate groups by a seeded hash, plus every group with recovered raw text
    (those rows are scored on raw text, so neither they nor their resubmissions may be trained on)."""
    groups = near_duplicate_groups(labelled)
    with_raw = {groups[i] for i, r in enumerate(labelled) if r.row in raw_by_row}
    # The group's smallest row number names it, so the split does not depend on file order.
    name: dict[int, int] = {}
    for i, g in enumerate(groups):
        name[g] = min(name.get(g, labelled[i].row), labelled[i].row)
    train: list[int] = []
    held: list[int] = []
    raw_eval: list[tuple[int, RawMessage]] = []
    for i, r in enumerate(labelled):
        g = groups[i]
        if g in with_raw or _bucket(seed, name[g]) < HELD_OUT_PERCENT:
            if r.row in raw_by_row:
                raw_eval.append((i, raw_by_row[r.row]))
            else:
                held.append(i)
        else:
            train.append(i)
    return Split(tuple(train), tuple(held), tuple(raw_eval))
