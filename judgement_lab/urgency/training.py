"""Building the urgency model from the catalogue and the corpus's training split (never its test split).

Training set: the hand-written training messages, the hand-labelled real messages of ../shared/data, the
catalogue's own examples, and a sample of the reference data's other messages as ordinary traffic (the
hotline's everyday text, which the model must leave alone). The threshold is chosen by leaving each writer
out in turn: the model is scored on a writer it has not seen, as it will be on the citizens it has not seen.
"""

from __future__ import annotations

import csv
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from ingest.urgency.catalogue import NORMAL, parse_catalogue
from judgement_lab.urgency.corpus import CORPUS_DIR, SHARED_FILES, examples
from workers.judgement.artefact import ARTEFACT_VERSION, Artefact, quantise_rows
from workers.judgement.features import char_ngram_counts
from workers.judgement.urgency.features import (
    CHAR_BITS,
    CHAR_ORDERS,
    Reader,
    feature_matrix,
    focus_text,
)
from workers.judgement.urgency.model import NONE, URGENT

SEED = 12345
# Ordinary messages of the reference data added as `none`: the everyday traffic of a petition board.
BACKGROUND = 2500
# Dense features are 0/1 against unit-length n-gram rows; this scale lets the regulariser treat them alike.
DENSE_SCALE = 0.5
C_URGENT = 64.0
C_SITUATION = 16.0
# Recall of urgent messages the threshold is chosen for, on writers the model has not seen.
TARGET_RECALL = 0.985
# Character n-gram rows kept in the artefact (by their largest weight): the rest round to nothing.
KEEP_ROWS = 30_000


@dataclass
class TrainingSet:
    """Focus texts, class labels and the group (writer or source), kind, channel and level of each."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)

    def add(
        self, text: str, label: str, group: str, kind: str, *, channel: str = "web", level: str = ""
    ) -> None:
        """One example (level: the labelled one; by default the situation's or normal)."""
        self.texts.append(text)
        self.labels.append(label)
        self.groups.append(group)
        self.kinds.append(kind)
        self.channels.append(channel)
        self.levels.append(level or (NORMAL if label == NONE else "urgent"))


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
        out.add(focus_text(ex.title, ex.text), label, group, ex.kind, channel=ex.channel, level=ex.level)
    for situation in catalogue.situations:
        for text in situation.examples:
            level = situation.level
            out.add(focus_text("", text), situation.id, "catalogue", "urgent", channel="wechat", level=level)
    if data_dir is not None:
        for title, text in _background(data_dir, _labelled_shared_ids(CORPUS_DIR), BACKGROUND, seed):
            out.add(focus_text(title, text), NONE, "background", "ordinary", channel="web", level=NORMAL)
    return out


def char_idf(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Smoothed idf of the hashed n-grams of focus texts (0 where never seen: no weight goes there)."""
    counts = char_ngram_counts(texts, CHAR_BITS, CHAR_ORDERS)
    df = np.bincount(counts.indices, minlength=1 << CHAR_BITS)
    idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
    idf[df == 0] = 0.0
    out: npt.NDArray[np.float32] = idf.astype(np.float32)
    return out


def fit_urgent(features: sparse.csr_matrix, urgent: npt.NDArray[np.bool_], c: float = C_URGENT) -> Any:
    """The urgent head: binary logistic regression, the two sides balanced (urgent messages are few)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(features, urgent)


def fit_situations(
    features: sparse.csr_matrix, labels: Sequence[str], situations: Sequence[str], c: float = C_SITUATION
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The situation head, on urgent examples only: (weights features × situations, intercept)."""
    from sklearn.linear_model import LogisticRegression

    y = np.array([situations.index(label) for label in labels])
    model = LogisticRegression(C=c, max_iter=3000).fit(features, y)
    coef = np.zeros((features.shape[1], len(situations)), dtype=np.float32)
    intercept = np.full(len(situations), -1e3, dtype=np.float32)  # a situation with no example never wins
    for j, k in enumerate(model.classes_):
        coef[:, k] = model.coef_[j]
        intercept[k] = model.intercept_[j]
    return coef, intercept


Matrices = Callable[[list[str], list[str]], tuple[sparse.csr_matrix, sparse.csr_matrix]]


@dataclass(frozen=True)
class HeldOut:
    """Scores of messages by urgent heads trained without their writer: `held` (indices into the training
    set), their `scores`, and the scores of a fifth of the background (`background`), held out throughout."""

    held: list[int]
    scores: npt.NDArray[np.float64]
    background: npt.NDArray[np.float64]


def writers(ts: TrainingSet) -> list[str]:
    """The training writers (the groups left out in turn)."""
    return sorted({g for g in ts.groups if g.startswith("train_")})


def held_background(ts: TrainingSet) -> list[int]:
    """The fifth of the background held out throughout (never trained on while leaving writers out)."""
    return [i for i, g in enumerate(ts.groups) if g == "background"][::5]


def held_out_scores(
    ts: TrainingSet,
    matrices: Matrices,
    fit: Callable[[sparse.csr_matrix, npt.NDArray[np.bool_]], Any],
    folds: Sequence[Sequence[str]] | None = None,
) -> HeldOut:
    """Each training writer scored by an urgent head trained without them (their messages and a fifth of the
    background held out); `folds`: writers left out together (by default each writer alone)."""
    scores: list[float] = []
    background: list[float] = []
    held: list[int] = []
    held_bg = set(held_background(ts))
    for fold in folds or [[w] for w in writers(ts)]:
        train = [i for i, g in enumerate(ts.groups) if g not in fold and i not in held_bg]
        test = [i for i, g in enumerate(ts.groups) if g in fold] + sorted(held_bg)
        x_train, x_test = matrices([ts.texts[i] for i in train], [ts.texts[i] for i in test])
        model = fit(x_train, np.array([ts.labels[i] != NONE for i in train]))
        p = model.predict_proba(x_test)[:, 1]
        n = len(test) - len(held_bg)
        scores.extend(p[:n].tolist())
        background.extend(p[n:].tolist())
        held.extend(test[:n])
    return HeldOut(held, np.array(scores), np.array(background))


def leave_writer_out(
    ts: TrainingSet,
    matrices: Matrices,
    fit: Callable[[sparse.csr_matrix, npt.NDArray[np.bool_]], Any],
    detail: bool = False,
) -> dict[str, Any]:
    """Each training writer scored by an urgent head trained without them (held_out_scores), and the
    thresholds that keep 97 % and TARGET_RECALL of their urgent messages. `detail`: also critical recall and
    false alarms by kind, channel and writer at each threshold."""
    return summarise(ts, held_out_scores(ts, matrices, fit), detail)


def summarise(ts: TrainingSet, h: HeldOut, detail: bool = False) -> dict[str, Any]:
    """The held-out figures at the thresholds that keep 97 % and TARGET_RECALL of the urgent messages."""
    s, bg = h.scores, h.background
    u = np.array([ts.labels[i] != NONE for i in h.held], dtype=bool)
    out: dict[str, Any] = {"writers": sorted({ts.groups[i] for i in h.held})}
    for recall in (0.97, TARGET_RECALL):
        t = threshold_for_recall(s, u, recall)
        out[f"at_recall_{recall}"] = {
            "threshold": round(t, 4),
            "recall": round(float((s[u] >= t).mean()), 4),
            "false_alarms_writers": round(float((s[~u] >= t).mean()), 4),
            "false_alarms_background": round(float((bg >= t).mean()), 4),
        }
        if detail:
            out[f"at_recall_{recall}"].update(_detail(ts, h.held, s, t))
    out["threshold"] = out[f"at_recall_{TARGET_RECALL}"]["threshold"]
    return out


def _detail(ts: TrainingSet, held: list[int], s: npt.NDArray[np.float64], t: float) -> dict[str, Any]:
    """Held-out figures at threshold t: critical recall, false alarms on hard negatives and ordinary
    messages, and recall and false alarms by channel and by writer."""
    flagged = s >= t

    def share(mask: npt.NDArray[np.bool_]) -> float | None:
        return round(float(flagged[mask].mean()), 4) if mask.any() else None

    levels = np.array([ts.levels[i] for i in held])
    kinds = np.array([ts.kinds[i] for i in held])
    channels = np.array([ts.channels[i] for i in held])
    groups = np.array([ts.groups[i] for i in held])
    normal = levels == NORMAL

    def part(mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
        return {
            "recall": share(mask & ~normal),
            "recall_critical": share(mask & (levels == "critical")),
            "false_alarms": share(mask & normal),
            "false_alarms_hard_negative": share(mask & normal & (kinds == "hard_negative")),
            "normal": int((mask & normal).sum()),
        }

    everything = np.ones(len(held), dtype=bool)
    return {
        "recall_critical": share(levels == "critical"),
        "false_alarms_hard_negative": share(normal & (kinds == "hard_negative")),
        "false_alarms_ordinary": share(normal & (kinds == "ordinary")),
        "by_channel": {c: part(channels == c) for c in sorted(set(channels.tolist()))},
        "by_writer": {g: part(groups == g) for g in sorted(set(groups.tolist()))},
        "all": part(everything),
    }


def feature_matrices(reader: Reader) -> Matrices:
    """Train and test matrices, the n-grams' idf taken from the training texts only."""

    def matrices(train: list[str], test: list[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        idf = char_idf(train)
        return (
            feature_matrix(reader, train, idf, DENSE_SCALE)[0],
            feature_matrix(reader, test, idf, DENSE_SCALE)[0],
        )

    return matrices


def threshold_for_recall(p: npt.NDArray[np.float64], urgent: npt.NDArray[np.bool_], recall: float) -> float:
    """The highest threshold that keeps at least `recall` of the urgent scores at or above it (≤ 0.5)."""
    if not urgent.any():
        return 0.5
    scores = np.sort(p[urgent])
    k = int(np.floor((1.0 - recall) * len(scores)))
    return float(min(0.5, scores[k]))


def build_artefact(
    ts: TrainingSet, catalogue_text: str, seed: int = SEED, cross_validate: bool = True
) -> Artefact:
    """Train both heads on the whole training split; the threshold from leaving each writer out."""
    catalogue = parse_catalogue(catalogue_text)
    situations = list(catalogue.ids)
    reader = Reader(catalogue)
    started = time.perf_counter()
    cv = leave_writer_out(ts, feature_matrices(reader), fit_urgent) if cross_validate else {"threshold": 0.5}
    idf = char_idf(ts.texts)
    x, _ = feature_matrix(reader, ts.texts, idf, DENSE_SCALE)
    is_urgent = np.array([label != NONE for label in ts.labels])
    head = fit_urgent(x, is_urgent)
    urgent_rows = np.flatnonzero(is_urgent)
    s_coef, s_intercept = fit_situations(x[urgent_rows], [ts.labels[i] for i in urgent_rows], situations)
    # Column 0: the urgent head's logit; then one column per situation.
    coef = np.hstack([head.coef_.T.astype(np.float32), s_coef])
    intercept = np.concatenate([head.intercept_.astype(np.float32), s_intercept])
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
        "catalogue": catalogue_text,
        "classes": [URGENT, *situations],
        "threshold": cv["threshold"],
        "dense_scale": DENSE_SCALE,
        "training": {
            "examples": len(ts.texts),
            "by_group": {g: ts.groups.count(g) for g in sorted(set(ts.groups))},
            "urgent": int(is_urgent.sum()),
            "c_urgent": C_URGENT,
            "c_situation": C_SITUATION,
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
    # The version names the catalogue and the weights: a retrain that changes the model changes it.
    digest = hashlib.sha256()
    for k in sorted(arrays):
        digest.update(k.encode())
        digest.update(np.ascontiguousarray(arrays[k]).tobytes())
    meta["model_version"] = f"urgency-v1+{catalogue.version}.{digest.hexdigest()[:12]}"
    return Artefact(meta, arrays)
