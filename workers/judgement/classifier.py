"""First-level category of a message: a linear model over word and character n-gram tf-idf features."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from workers.judgement.artefact import Artefact, dequantise_rows
from workers.judgement.features import (
    FloatArray,
    char_ngram_bag,
    char_ngram_counts,
    joined_text,
    tfidf,
    tfidf_bag,
    word_bag,
    word_counts,
)

# Below this batch size scoring skips scipy.sparse, whose per-call overhead dominates for one message.
SMALL_BATCH = 8


@dataclass(frozen=True)
class CategoryScore:
    """The predicted category and its calibrated probability."""

    category: str
    confidence: float


class CategoryClassifier:
    """Scores training-style token lists; weights come from the artefact (pruned, int8-quantised)."""

    def __init__(
        self,
        *,
        classes: Sequence[str],
        vocabulary: dict[str, int],
        word_idf: FloatArray,
        char_idf: FloatArray,
        char_bits: int,
        char_orders: Sequence[int],
        weights: FloatArray,
        intercept: FloatArray,
        temperature: float,
    ) -> None:
        self.classes = list(classes)
        self.vocabulary = vocabulary
        self.word_idf = word_idf
        self.char_idf = char_idf
        self.char_bits = char_bits
        self.char_orders = tuple(char_orders)
        self.weights = weights  # (n_word_features + 2**bits) x n_classes
        self.intercept = intercept
        self.temperature = temperature

    @classmethod
    def from_artefact(cls, art: Artefact) -> CategoryClassifier:
        """Rebuild the classifier from the artefact's arrays."""
        a, m = art.arrays, art.meta["classifier"]
        words = art.words("cls_words")
        n_features = len(words) + (1 << m["char_bits"])
        dense = np.zeros((n_features, len(m["classes"])), dtype=np.float32)
        cols = np.cumsum(a["cls_coef_gaps"].astype(np.int64))
        dense[cols] = dequantise_rows(a["cls_coef_vals"].T, a["cls_coef_scale"]).T
        lo, hi = m["char_idf_range"]
        q = a["cls_char_idf"].astype(np.float32)
        char_idf = np.where(q > 0, lo + (q - 1) * (hi - lo) / 254.0, 0.0).astype(np.float32)
        return cls(
            classes=m["classes"],
            vocabulary={w: i for i, w in enumerate(words)},
            word_idf=a["cls_word_idf"].astype(np.float32),
            char_idf=char_idf,
            char_bits=m["char_bits"],
            char_orders=m["char_orders"],
            weights=dense,
            intercept=a["cls_intercept"].astype(np.float32),
            temperature=float(m["temperature"]),
        )

    def features(self, docs: Sequence[Sequence[str]]) -> sparse.csr_matrix:
        """The feature matrix of token lists: word tf-idf and hashed char n-gram tf-idf, each unit length."""
        words = tfidf(word_counts(docs, self.vocabulary), self.word_idf)
        chars = char_ngram_counts([joined_text(d) for d in docs], self.char_bits, self.char_orders)
        return sparse.hstack([words, tfidf(chars, self.char_idf)], format="csr")

    def decision(self, docs: Sequence[Sequence[str]]) -> npt.NDArray[np.float32]:
        """Raw linear scores, one row per document."""
        if len(docs) < SMALL_BATCH:
            return np.stack([self._decision_one(d) for d in docs]) if docs else self.intercept[None, :0]
        out: npt.NDArray[np.float32] = self.features(docs) @ self.weights + self.intercept
        return out

    def _decision_one(self, doc: Sequence[str]) -> npt.NDArray[np.float32]:
        """The same scores as decision() for one document, with numpy only."""
        wcols, wcounts = word_bag(doc, self.vocabulary)
        ccols, ccounts = char_ngram_bag(joined_text(doc), self.char_bits, self.char_orders)
        score = self.intercept.copy()
        if wcols.size:
            score += tfidf_bag(wcols, wcounts, self.word_idf) @ self.weights[wcols]
        if ccols.size:
            score += tfidf_bag(ccols, ccounts, self.char_idf) @ self.weights[len(self.vocabulary) + ccols]
        return score

    def probabilities(self, docs: Sequence[Sequence[str]]) -> npt.NDArray[np.float32]:
        """Softmax of temperature-scaled scores (the temperature was fitted on cross-validated scores)."""
        return softmax(self.decision(docs), self.temperature)

    def predict(self, docs: Sequence[Sequence[str]]) -> list[CategoryScore]:
        """Best category and its probability per document."""
        p = self.probabilities(docs)
        best = p.argmax(axis=1)
        return [CategoryScore(self.classes[int(j)], float(p[i, j])) for i, j in enumerate(best)]


def softmax(scores: npt.NDArray[np.float32], temperature: float) -> npt.NDArray[np.float32]:
    """Row-wise softmax of scores * temperature."""
    z = scores * temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float32] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return out
