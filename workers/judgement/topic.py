"""A small latent-topic space (LSA) in which paraphrases of one problem land close together: citizens who
write "油烟", "烧烤", "夜宵摊" or "噪音扰民" about one estate share few words but many co-occurring ones.

Fitted by judgement_lab/topic_fit.py at training time; the workers only project with the stored arrays."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


class TopicModel:
    """Projects idf-weighted word counts onto learnt topic directions (rows of `components`)."""

    def __init__(self, vocabulary: Mapping[str, int], idf: Vector, components: Vector) -> None:
        self.vocabulary = vocabulary
        self.idf = idf
        # Stored word-major (words x dims) so that a document is a sum of a few rows.
        self.word_vectors = np.ascontiguousarray(components.T, dtype=np.float32)
        self.dims = int(components.shape[0])

    def vector(self, weighted_words: Mapping[str, float]) -> Vector:
        """Unit-length topic vector of words with their (sublinear) term frequencies."""
        cols: list[int] = []
        vals: list[float] = []
        for w, tf in weighted_words.items():
            j = self.vocabulary.get(w)
            if j is not None:
                cols.append(j)
                vals.append(tf * float(self.idf[j]))
        if not cols:
            return np.zeros(self.dims, dtype=np.float32)
        weights = np.asarray(vals, dtype=np.float32)
        weights /= np.linalg.norm(weights)
        z = weights @ self.word_vectors[cols]
        norm = float(np.linalg.norm(z))
        return (z / norm).astype(np.float32) if norm > 0 else z.astype(np.float32)
