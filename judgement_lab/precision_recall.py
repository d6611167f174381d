"""Evaluation figures: classification report and pairwise clustering precision / recall / F1."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any


@dataclass(frozen=True)
class PairwiseScore:
    """Pairwise precision, recall and F1 of a grouping against gold groups."""

    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int


def pairwise(gold: Mapping[str, int], predicted: Mapping[str, str]) -> PairwiseScore:
    """Score pairs of gold items: a pair is positive in gold when both share a non-zero group."""
    tp = fp = fn = 0
    for a, b in combinations(sorted(gold), 2):
        same_gold = gold[a] != 0 and gold[a] == gold[b]
        same_pred = predicted[a] == predicted[b]
        tp += same_gold and same_pred
        fp += (not same_gold) and same_pred
        fn += same_gold and not same_pred
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScore(round(precision, 4), round(recall, 4), round(f1, 4), tp + fn, tp + fp)


def classification_figures(truth: Sequence[str], predicted: Sequence[str | None]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision / recall / F1 / support."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    pred = [p or "" for p in predicted]
    labels = sorted(set(truth))
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    return {
        "n": len(truth),
        "accuracy": round(float(accuracy_score(truth, pred)), 4),
        "macro_f1": round(float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)), 4),
        "per_class": {
            c: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i, c in enumerate(labels)
        },
    }
