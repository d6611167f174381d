"""Building the urgency model from the catalogue and the corpus's training split (never its test split).

Training set: the hand-written training messages, the hand-labelled real messages of ../shared/data, the
catalogue's own examples, and a sample of the reference data's other messages as ordinary traffic (the
hotline's everyday text, which the model must leave alone). The threshold is chosen by leaving each writer
out in turn: the model is scored on a writer it has not seen, as it will be on the citizens it has not seen.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from ingest.urgency.catalogue import CATALOGUE_PATH, NORMAL, parse_catalogue
from workers.judgement.artefact import ARTEFACT_VERSION, Artefact, quantise_rows
from workers.judgement.features import char_ngram_counts
from workers.judgement.urgency.corpus import CORPUS_DIR, SHARED_FILES, examples
from workers.judgement.urgency.features import CHAR_BITS, CHAR_ORDERS, Reader, feature_matrix, focus_text
from workers.judgement.urgency.model import NONE

SEED = 12345
# Ordinary messages of the reference data added as `none`: the everyday traffic of a petition board.
BACKGROUND = 2500
# Dense features are 0/1 against unit-length n-gram rows; this scale lets the regulariser treat them alike.
DENSE_SCALE = 0.5
C = 8.0
# Recall of urgent messages the threshold is chosen for, on writers the model has not seen.
TARGET_RECALL = 0.985
# Character n-gram rows kept in the artefact (by their largest weight): the rest round to nothing.
KEEP_ROWS = 30_000


@dataclass
class TrainingSet:
    """Focus texts, class labels and the group (writer or source) of each."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def add(self, text: str, label: str, group: str) -> None:
        """One example."""
        self.texts.append(text)
        self.labels.append(label)
        self.groups.append(group)


def _background(data_dir: Path, exclude: set[str], n: int, seed: int) -> list[tuple[str, str]]:
    """A sample of the reference data's messages that nobody labelled as (looking) urgent."""
    seen: dict[str, tuple[str, str]] = {}
    for name in SHARED_FILES:
        path = data_dir / name
        if path.exists():
            with path.open(encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    mid = row["留言编号"].strip()
                    if mid not in exclude:
                        seen.setdefault(mid, (row["留言主题"].strip(), row["留言详情"].strip()))
    keys = sorted(seen)
    random.Random(seed).shuffle(keys)
    return [seen[k] for k in keys[:n]]


def _labelled_shared_ids(corpus_dir: Path) -> set[str]:
    path = corpus_dir / "shared_data_labels.csv"
    if not path.exists():
        return set()
    with path.open(encoding="utf-8") as fh:
        return {row["message_id"].strip() for row in csv.DictReader(fh)}


def training_set(catalogue_text: str, data_dir: Path | None, seed: int = SEED) -> TrainingSet:
    """Every training example, labelled with its situation id or `none`."""
    catalogue = parse_catalogue(catalogue_text)
    out = TrainingSet()
    for ex in examples("train", data_dir):
        label = ex.situation if ex.level != NORMAL and ex.situation else NONE
        group = ex.source if ex.source.startswith("train_") else "shared"
        out.add(focus_text(ex.title, ex.text), label, group)
    for situation in catalogue.situations:
        for text in situation.examples:
            out.add(focus_text("", text), situation.id, "catalogue")
    if data_dir is not None:
        for title, text in _background(data_dir, _labelled_shared_ids(CORPUS_DIR), BACKGROUND, seed):
            out.add(focus_text(title, text), NONE, "background")
    return out


def char_idf(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Smoothed idf of the hashed n-grams (0 where never seen: such columns carry no weight)."""
    counts = char_ngram_counts(texts, CHAR_BITS, CHAR_ORDERS)
    df = np.bincount(counts.indices, minlength=1 << CHAR_BITS)
    idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
    idf[df == 0] = 0.0
    out: npt.NDArray[np.float32] = idf.astype(np.float32)
    return out


def fit(
    features: sparse.csr_matrix, labels: Sequence[str], classes: Sequence[str], c: float = C
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Multinomial logistic regression; (weights features × classes, intercept), in `classes` order."""
    from sklearn.linear_model import LogisticRegression

    y = np.array([classes.index(label) for label in labels])
    # Urgent examples are few against the background; balance the two sides, not the 25 classes.
    urgent = y != classes.index(NONE)
    weight = np.where(urgent, 0.5 / max(urgent.mean(), 1e-9), 0.5 / max((~urgent).mean(), 1e-9))
    model = LogisticRegression(C=c, max_iter=3000, tol=1e-4)
    model.fit(features, y, sample_weight=weight)
    coef = np.zeros((features.shape[1], len(classes)), dtype=np.float32)
    intercept = np.full(len(classes), -1e3, dtype=np.float32)  # a class with no example is never chosen
    for j, k in enumerate(model.classes_):
        coef[:, k] = model.coef_[j]
        intercept[k] = model.intercept_[j]
    return coef, intercept


def _p_urgent(
    features: sparse.csr_matrix, coef: npt.NDArray[np.float32], b: npt.NDArray[np.float32], none: int
) -> npt.NDArray[np.float64]:
    z = features @ coef + b
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    out: npt.NDArray[np.float64] = 1.0 - p[:, none]
    return out


def leave_writer_out(ts: TrainingSet, classes: list[str], c: float = C) -> dict[str, Any]:
    """Scores of each writer's messages from a model trained without them; the threshold for TARGET_RECALL."""
    reader = Reader(parse_catalogue(CATALOGUE_PATH.read_text(encoding="utf-8")))
    writers = sorted({g for g in ts.groups if g.startswith("train_")})
    p_all: list[float] = []
    urgent_all: list[bool] = []
    for writer in writers:
        train = [i for i, g in enumerate(ts.groups) if g != writer]
        test = [i for i, g in enumerate(ts.groups) if g == writer]
        idf = char_idf([ts.texts[i] for i in train])
        x_train, _ = feature_matrix(reader, [ts.texts[i] for i in train], idf, DENSE_SCALE)
        x_test, _ = feature_matrix(reader, [ts.texts[i] for i in test], idf, DENSE_SCALE)
        coef, b = fit(x_train, [ts.labels[i] for i in train], classes, c)
        p_all.extend(_p_urgent(x_test, coef, b, classes.index(NONE)).tolist())
        urgent_all.extend(ts.labels[i] != NONE for i in test)
    p, urgent = np.array(p_all), np.array(urgent_all)
    threshold = threshold_for_recall(p, urgent, TARGET_RECALL)
    return {
        "writers": writers,
        "threshold": threshold,
        "recall": float((p[urgent] >= threshold).mean()) if urgent.any() else None,
        "false_alarms": float((p[~urgent] >= threshold).mean()) if (~urgent).any() else None,
        "at_0.5": {
            "recall": float((p[urgent] >= 0.5).mean()) if urgent.any() else None,
            "false_alarms": float((p[~urgent] >= 0.5).mean()) if (~urgent).any() else None,
        },
    }


def threshold_for_recall(p: npt.NDArray[np.float64], urgent: npt.NDArray[np.bool_], recall: float) -> float:
    """The highest threshold that keeps at least `recall` of the urgent scores at or above it (≤ 0.5)."""
    if not urgent.any():
        return 0.5
    scores = np.sort(p[urgent])
    k = int(np.floor((1.0 - recall) * len(scores)))
    return float(min(0.5, scores[k]))


def build_artefact(data_dir: Path | None, seed: int = SEED, cross_validate: bool = True) -> Artefact:
    """Train on the whole training split; the threshold from leaving each writer out."""
    catalogue_text = CATALOGUE_PATH.read_text(encoding="utf-8")
    catalogue = parse_catalogue(catalogue_text)
    classes = [NONE, *catalogue.ids]
    ts = training_set(catalogue_text, data_dir, seed)
    started = time.perf_counter()
    cv = leave_writer_out(ts, classes) if cross_validate else {"threshold": 0.5}
    reader = Reader(catalogue)
    idf = char_idf(ts.texts)
    x, _ = feature_matrix(reader, ts.texts, idf, DENSE_SCALE)
    coef, intercept = fit(x, ts.labels, classes)
    n_char = 1 << CHAR_BITS
    char_coef = coef[:n_char]
    strength = np.abs(char_coef).max(axis=1)
    rows = np.flatnonzero(strength > 0)
    rows = rows[np.argsort(-strength[rows])][:KEEP_ROWS]
    rows.sort()
    q, scales = quantise_rows(char_coef[rows])
    idf_cols = np.flatnonzero(idf > 0)
    meta = {
        "artefact_version": ARTEFACT_VERSION,
        "model_version": f"urgency-v1+{catalogue.version}",
        "catalogue": catalogue_text,
        "classes": classes,
        "threshold": cv["threshold"],
        "dense_scale": DENSE_SCALE,
        "temperature": 1.0,
        "training": {
            "examples": len(ts.texts),
            "by_group": {g: ts.groups.count(g) for g in sorted(set(ts.groups))},
            "urgent": sum(label != NONE for label in ts.labels),
            "c": C,
            "seed": seed,
            "leave_writer_out": cv,
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    arrays: dict[str, npt.NDArray[Any]] = {
        "char_idf_cols": idf_cols.astype(np.int32),
        "char_idf_vals": idf[idf_cols].astype(np.float16),
        "char_rows": rows.astype(np.int32),
        "char_weights": q,
        "char_scales": scales,
        "dense_weights": coef[n_char:].astype(np.float32),
        "intercept": intercept,
    }
    return Artefact(meta, arrays)
