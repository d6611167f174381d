"""Match scores of one message against all its candidate incidents at once (numpy), as `match_score` would
give them one by one (and one by one for a few candidates, where numpy's fixed cost is not worth paying).

Grouping scores every message against up to 64 candidates; per candidate in Python (word overlap over a
few dozen words, the place checks, the mix) that would be most of a worker's grouping time. Here the word
overlaps are one gather-multiply-segment-sum over the candidates' words, against the message's weights
scattered into a dense scratch vector indexed by word id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from workers.judgement.signature import (
    DEFAULT_WEIGHTS,
    IssueSignature,
    ScoreWeights,
    combine,
    cosine,
    relate,
    vocabulary_size,
)

Scores = npt.NDArray[np.float64]
# Below this many candidates the numpy calls' fixed cost per message and the word numbers of fresh centroids
# outweigh the per-candidate Python loop (measured with `python -m judgement_lab.bench`, whose pool has
# mostly short candidate lists; docs/performance.md, "Workers"). A full list — the grouper's limit, which a
# worker's city bucket reaches for nearly every message — is where numpy pays.
VECTORISE_FROM = 64


class CandidateScorer:
    """Scores one message against many candidates; holds a scratch vector, so one per thread."""

    def __init__(self, weights: ScoreWeights = DEFAULT_WEIGHTS) -> None:
        self.weights = weights
        self._dense: npt.NDArray[np.float64] = np.zeros(1024, np.float64)

    def term_overlaps(self, sig: IssueSignature, others: Sequence[IssueSignature]) -> Scores:
        """`cosine(sig.terms, o.terms)` for each of `others` (equal up to the order of a float sum)."""
        n = len(others)
        if n == 0:
            return np.zeros(0, np.float64)
        ids, weights = sig.term_arrays
        arrays = [o.term_arrays for o in others]
        lengths = np.fromiter((len(a[0]) for a in arrays), np.int64, n)
        if not ids.size or not lengths.any():
            return np.zeros(n, np.float64)
        if self._dense.size < vocabulary_size():
            self._dense = np.zeros(max(vocabulary_size(), 2 * self._dense.size), np.float64)
        dense = self._dense
        dense[ids] = weights
        try:
            products = dense[np.concatenate([a[0] for a in arrays])]
            products *= np.concatenate([a[1] for a in arrays])
        finally:
            dense[ids] = 0.0
        starts = np.zeros(n, np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        # reduceat of an empty segment gives the next element, not 0: those are zeroed after.
        sums = np.add.reduceat(products, np.minimum(starts, products.size - 1))
        sums[lengths == 0] = 0.0
        return sums

    def scores(self, sig: IssueSignature, others: Sequence[IssueSignature]) -> Scores:
        """`combine`'s score (uncapped, unlike `match_score`) for each of `others` (a conflict of city or
        district scores 0)."""
        n = len(others)
        if n == 0:
            return np.zeros(0, np.float64)
        if n < VECTORISE_FROM:
            return np.array(self._one_by_one(sig, others), np.float64)
        w = self.weights
        terms = self.term_overlaps(sig, others)
        dims = sig.topic.size
        if dims:
            zero = np.zeros(dims, np.float32)
            # np.array of equal-length rows: np.stack's matrix without its per-row checks in Python.
            topics = np.array([o.topic if o.topic.size == dims else zero for o in others], np.float32)
            # float32 products, then the same doubles as float() of each, as topic_similarity gives them.
            topic = np.clip(topics @ sig.topic, 0.0, None).astype(np.float64)
        else:
            topic = np.zeros(n, np.float64)
        relations = np.array([relate(sig, o) for o in others], np.bool_).reshape(n, 3)
        conflict, same, same_problem = relations[:, 0], relations[:, 1], relations[:, 2]
        score: Scores = w.topic * topic + w.terms * terms + np.where(same, w.place_bonus, 0.0)
        score += np.where(same_problem, w.problem_bonus, 0.0)
        score[(~(same | same_problem) & (terms < w.min_terms_without_place)) | conflict] = 0.0
        return score

    def _one_by_one(self, sig: IssueSignature, others: Sequence[IssueSignature]) -> list[float]:
        dims = sig.topic.size
        if dims:
            zero = np.zeros(dims, np.float32)
            topics = np.array([o.topic if o.topic.size == dims else zero for o in others], np.float32)
            topic: list[float] = np.clip(topics @ sig.topic, 0.0, None).tolist()
        else:
            topic = [0.0] * len(others)
        weights, terms = self.weights, sig.terms
        out: list[float] = []
        for o, t in zip(others, topic, strict=True):
            apart, same, same_problem = relate(sig, o)
            out.append(0.0 if apart else combine(t, cosine(terms, o.terms), same, weights, same_problem))
        return out
