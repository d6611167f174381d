"""Fitting the LSA topic space of workers/judgement/topic.py from tokenised training documents."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from workers.judgement.topic import TopicModel


def fit_topic_model(docs: Sequence[Sequence[str]], dims: int, max_words: int, seed: int) -> TopicModel:
    """Fit LSA (truncated SVD of sublinear tf-idf) on tokenised documents."""
    vec = TfidfVectorizer(
        analyzer=identity, sublinear_tf=True, min_df=3, max_features=max_words, dtype=np.float32
    )
    x = vec.fit_transform(docs)
    svd = TruncatedSVD(dims, random_state=seed).fit(x)
    vocabulary = {str(w): int(i) for w, i in vec.vocabulary_.items()}
    return TopicModel(vocabulary, vec.idf_.astype(np.float32), svd.components_.astype(np.float32))


def identity(words: Sequence[str]) -> Sequence[str]:
    """The analyzer for documents that are already tokenised."""
    return words
