"""Find raw text for labelled rows (the same messages reappear in the raw files) and near-duplicate rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from judgement_lab.dataset import LabelledRow, RawMessage

# A labelled row's tokens, glued, must be an in-order subsequence of a raw text for at least this share of
# its characters; unrelated texts score far lower (measured: the scores split cleanly around 0.5-0.9).
MIN_SUBSEQUENCE_SHARE = 0.9
NEAR_DUPLICATE_COSINE = 0.8


def subsequence_share(needle: str, haystack: str) -> float:
    """Share of needle's characters found in order in haystack (greedy)."""
    pos = 0
    hit = 0
    for ch in needle:
        k = haystack.find(ch, pos)
        if k >= 0:
            hit += 1
            pos = k + 1
    return hit / max(1, len(needle))


def recover_raw(labelled: Sequence[LabelledRow], raw: Sequence[RawMessage]) -> dict[int, RawMessage]:
    """Map labelled row number -> raw message whose text the row's tokens were cut from."""
    glued = ["".join(r.tokens).lower() for r in labelled]
    texts = [(m.title + m.content).lower() for m in raw]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(3, 3), sublinear_tf=True)
    vec.fit(glued + texts)
    sims = (vec.transform(glued) @ vec.transform(texts).T).tocsr()
    found: dict[int, RawMessage] = {}
    for i, row in enumerate(labelled):
        lo, hi = sims.indptr[i], sims.indptr[i + 1]
        if lo == hi:
            continue
        top = sims.indices[lo:hi][np.argsort(-sims.data[lo:hi])[:3]]
        share, j = max((subsequence_share(glued[i], texts[int(j)]), int(j)) for j in top)
        if share >= MIN_SUBSEQUENCE_SHARE:
            found[row.row] = raw[j]
    return found


def near_duplicate_groups(labelled: Sequence[LabelledRow]) -> list[int]:
    """A group id per row; rows with near-identical text (resubmissions) share one, so a split keeps them
    on the same side."""
    glued = ["".join(r.tokens) for r in labelled]
    x = TfidfVectorizer(analyzer="char", ngram_range=(4, 4)).fit_transform(glued)
    sims = (x @ x.T).tocoo()
    parent = list(range(len(labelled)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j, s in zip(sims.row, sims.col, sims.data, strict=True):
        if i < j and s > NEAR_DUPLICATE_COSINE:
            parent[find(int(i))] = find(int(j))
    return [find(i) for i in range(len(labelled))]
