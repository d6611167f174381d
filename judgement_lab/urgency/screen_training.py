"""Learning the gateway's screen (ingest/urgency/screen.py) from the same training split as the model.

A logistic regression over the presence of character bigrams and trigrams of the opening, with an L1 penalty
so that only a few thousand n-grams carry weight (the gateway finds them with one automaton pass). Its
threshold keeps SCREEN_RECALL of held-out writers' urgent messages: the screen should be generous, since a
miss waits behind the backlog and a false alarm only takes a place on the lane.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ingest.urgency.screen import SCREEN_MODEL_PATH
from judgement_lab.urgency.training import TrainingSet, leave_writer_out
from workers.judgement.urgency.model import NONE

SCREEN_C = 64.0
SCREEN_RECALL = 0.97
NGRAMS = (2, 3)


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import CountVectorizer

    # The texts are already the screen's `opening` (normalised, lower-cased, one space per run).
    return CountVectorizer(analyzer="char", ngram_range=NGRAMS, binary=True, lowercase=False, min_df=2)


def _matrices(train: list[str], test: list[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    vec = _vectorizer()
    return vec.fit_transform(train), vec.transform(test)


def _fit(x: sparse.csr_matrix, urgent: np.ndarray[Any, Any], c: float = SCREEN_C) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=c, class_weight="balanced")
    return model.fit(x, urgent)


def build_screen(ts: TrainingSet, cross_validate: bool = True, c: float = SCREEN_C) -> dict[str, Any]:
    """The screen model as screen-model.json holds it, with its leave-writer-out figures."""
    cv: dict[str, Any] = {}
    threshold = 0.5
    if cross_validate:
        cv = leave_writer_out(ts, _matrices, functools.partial(_fit, c=c))
        threshold = cv[f"at_recall_{SCREEN_RECALL}"]["threshold"]
    vec = _vectorizer()
    x = vec.fit_transform(ts.texts)
    model = _fit(x, np.array([label != NONE for label in ts.labels]), c)
    grams = vec.get_feature_names_out()
    coef = model.coef_[0]
    kept = np.flatnonzero(coef)
    return {
        "version": 1,
        "threshold": threshold,
        "intercept": float(model.intercept_[0]),
        "weights": {str(grams[i]): round(float(coef[i]), 5) for i in kept},
        "training": {"c": c, "ngrams": list(NGRAMS), "recall_target": SCREEN_RECALL, "leave_writer_out": cv},
    }


def save_screen(screen: dict[str, Any], path: Path = SCREEN_MODEL_PATH) -> int:
    """Write screen-model.json; returns its size in bytes."""
    path.write_text(json.dumps(screen, ensure_ascii=False, sort_keys=True, indent=0) + "\n", encoding="utf-8")
    return path.stat().st_size
