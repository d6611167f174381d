"""Fit everything the artefact holds from the shared data: classifier, confidence calibration, word
weights and the topic space for grouping."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from judgement_lab import dataset as ds
from judgement_lab.alignment import recover_raw
from judgement_lab.split import SEED, Split, make_split
from judgement_lab.teacher_labels import TeacherLabel, labelled_messages, labels_digest
from judgement_lab.topic_fit import fit_topic_model
from judgement_lab.vocabulary import derive_stopwords, document_frequencies
from workers.judgement.artefact import ARTEFACT_VERSION, Artefact, quantise_rows, word_array
from workers.judgement.classifier import softmax
from workers.judgement.features import char_ngram_counts, joined_text, tfidf, word_counts
from workers.judgement.signature import DEFAULT_WEIGHTS
from workers.judgement.text import Tokenizer

CHAR_BITS = 18
CHAR_ORDERS = (2, 3)
SVM_C = 1.0
# Share of classifier weights kept (largest magnitude); measured: 10% loses < 0.001 macro-F1 on held-out.
KEEP_WEIGHTS = 0.10
# Held-out tokens: 0.7 sends ~8% to review, and the rest are 94.7% right (vs 92.7% overall).
REVIEW_THRESHOLD = 0.7
TOPIC_DIMS = 100
TOPIC_WORDS = 8000
GROUPING_THRESHOLD = 0.5
GROUPING_WINDOW_DAYS = 90
RESUBMISSION_WINDOW_DAYS = 30


@dataclass(frozen=True)
class Corpus:
    """The data one training run reads."""

    labelled: list[ds.LabelledRow]
    unlabelled: list[ds.RawMessage]
    replies: list[ds.RawMessage]
    pool: list[ds.RawMessage]
    categories: list[str]
    split: Split


def read_corpus(data_dir: Path, seed: int = SEED) -> Corpus:
    """Read the shared files and make the deterministic split."""
    labelled = ds.read_labelled(data_dir)
    unlabelled = ds.read_raw(data_dir, ds.UNLABELLED)
    replies = ds.read_raw(data_dir, ds.REPLIES)
    pool = ds.read_raw(data_dir, ds.POOL)
    raw_by_row = recover_raw(labelled, unlabelled + pool + replies)
    split = make_split(labelled, raw_by_row, seed)
    return Corpus(labelled, unlabelled, replies, pool, ds.read_first_level_categories(data_dir), split)


def _idf(counts: sparse.csr_matrix) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Smoothed idf as scikit-learn computes it, and the document frequencies."""
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    n = counts.shape[0]
    return (np.log((1 + n) / (1 + df)) + 1).astype(np.float32), df


def fit_temperature(scores: npt.NDArray[np.float32], labels: npt.NDArray[np.int64]) -> float:
    """The softmax temperature minimising log-loss of cross-validated scores."""
    best_t, best_loss = 1.0, math.inf
    for t in np.linspace(0.5, 15.0, 59):
        p = softmax(scores, float(t))
        loss = -float(np.mean(np.log(p[np.arange(len(labels)), labels] + 1e-9)))
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t


def train_classifier(docs: Sequence[Sequence[str]], labels: Sequence[str], seed: int) -> dict[str, Any]:
    """Fit the linear model; returns the artefact arrays and metadata for the classifier."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.svm import LinearSVC

    df = Counter(w for d in docs for w in set(d))
    words = sorted(w for w, n in df.items() if n >= 2)
    vocab = {w: i for i, w in enumerate(words)}
    wc = word_counts(docs, vocab)
    word_idf, _ = _idf(wc)
    cc = char_ngram_counts([joined_text(d) for d in docs], CHAR_BITS, CHAR_ORDERS)
    char_idf, char_df = _idf(cc)
    # Buckets seen in one training document only are noise; zero idf drops them from the features.
    char_idf[char_df < 2] = 0.0
    x = sparse.hstack([tfidf(wc, word_idf), tfidf(cc, char_idf)], format="csr")
    classes = sorted(set(labels))
    y = np.array([classes.index(c) for c in labels])
    svm = LinearSVC(C=SVM_C, random_state=seed)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    cv_scores = cross_val_predict(svm, x, y, cv=folds, method="decision_function")
    temperature = fit_temperature(cv_scores.astype(np.float32), y)
    svm.fit(x, y)
    coef = svm.coef_.astype(np.float32)
    cut = np.quantile(np.abs(coef), 1.0 - KEEP_WEIGHTS)
    coef[np.abs(coef) < cut] = 0.0
    q, scale = quantise_rows(coef)
    cols = np.flatnonzero(q.any(axis=0)).astype(np.uint32)
    present = char_idf[char_idf > 0]
    lo, hi = float(present.min()), float(present.max())
    char_q = np.where(char_idf > 0, np.round((char_idf - lo) / (hi - lo) * 254) + 1, 0).astype(np.uint8)
    arrays = {
        "cls_words": word_array(words),
        "cls_word_idf": word_idf.astype(np.float16),
        "cls_char_idf": char_q,
        # Sorted column numbers stored as gaps: small numbers compress several times better.
        "cls_coef_gaps": np.diff(cols, prepend=np.uint32(0)).astype(np.uint32),
        "cls_coef_vals": np.ascontiguousarray(q[:, cols].T),
        "cls_coef_scale": scale,
        "cls_intercept": svm.intercept_.astype(np.float32),
    }
    meta = {
        "classes": classes,
        "char_bits": CHAR_BITS,
        "char_orders": list(CHAR_ORDERS),
        "char_idf_range": [lo, hi],
        "temperature": temperature,
        "review_threshold": REVIEW_THRESHOLD,
        "svm_c": SVM_C,
        "kept_weights": int(np.count_nonzero(q)),
        "word_features": len(words),
        "train_rows": len(docs),
    }
    return {"arrays": arrays, "meta": meta}


def train_grouping(corpus: Corpus, tokenizer: Tokenizer, seed: int) -> dict[str, Any]:
    """Word idf and the topic space, from the labelled tokens and the unlabelled and replies texts (the
    hot-issue pool, on which grouping is evaluated, is not used)."""
    raw = corpus.unlabelled + corpus.replies
    docs = [list(r.tokens) for r in corpus.labelled] + [tokenizer.tokens(m.title, m.content) for m in raw]
    df, n = document_frequencies(docs)
    words = sorted(w for w, c in df.items() if c >= 2)
    idf = np.array([math.log((n + 1) / (df[w] + 1)) + 1 for w in words], dtype=np.float32)

    def topic_words(ws: Sequence[str]) -> list[str]:
        return [w for w in ws if len(w) >= 2 and not w.isascii()]

    topic_docs = [topic_words(r.tokens) for r in corpus.labelled] + [
        topic_words(tokenizer.search_tokens(f"{m.title} {m.content[:300]}")) for m in raw
    ]
    model = fit_topic_model(topic_docs, TOPIC_DIMS, TOPIC_WORDS, seed)
    lsa_words = sorted(model.vocabulary, key=model.vocabulary.__getitem__)
    q, scale = quantise_rows(model.word_vectors.T.copy())
    arrays = {
        "grp_words": word_array(words),
        "grp_idf": idf.astype(np.float16),
        "lsa_words": word_array(lsa_words),
        "lsa_idf": model.idf.astype(np.float16),
        "lsa_components": q,
        "lsa_scale": scale,
    }
    meta = {
        "unseen_idf": math.log((n + 1) / 2) + 1,
        "topic_dims": TOPIC_DIMS,
        "threshold": GROUPING_THRESHOLD,
        "window_days": GROUPING_WINDOW_DAYS,
        "resubmission_window_days": RESUBMISSION_WINDOW_DAYS,
        "place_bonus": DEFAULT_WEIGHTS.place_bonus,
        "min_terms_without_place": DEFAULT_WEIGHTS.min_terms_without_place,
        "idf_documents": n,
    }
    return {"arrays": arrays, "meta": meta}


def teacher_rows(
    corpus: Corpus, tokenizer: Tokenizer, teacher: Sequence[TeacherLabel]
) -> tuple[list[list[str]], list[str]]:
    """The raw messages the fine-tuned encoder labelled, as training-style tokens with its labels. None of
    them may be a held-out raw row (finetune.py leaves out every message resembling a held-out row; this
    checks the exact ones again, so a stale labels file cannot leak the evaluation)."""
    pairs = labelled_messages(
        teacher, {"unlabelled": corpus.unlabelled, "pool": corpus.pool, "replies": corpus.replies}
    )
    held = {(m.title, m.content) for _, m in corpus.split.raw_eval}
    leaked = [f"{t.source}:{t.id}" for m, t in pairs if (m.title, m.content) in held]
    if leaked:
        raise ValueError(f"teacher labels include held-out raw messages: {leaked[:5]}")
    docs: list[list[str]] = []
    labels: list[str] = []
    for m, t in pairs:
        tokens = tokenizer.tokens(m.title, m.content)
        if tokens:
            docs.append(tokens)
            labels.append(t.category)
    return docs, labels


def build_artefact(
    corpus: Corpus, seed: int = SEED, teacher: Sequence[TeacherLabel] | None = None
) -> Artefact:
    """Train everything on the corpus' training split; with `teacher`, the classifier also learns the
    fine-tuned encoder's labels of raw messages (distillation, `make finetune`)."""
    stopwords = derive_stopwords(corpus.labelled, corpus.unlabelled + corpus.replies)
    tokenizer = Tokenizer(stopwords)
    train = [corpus.labelled[i] for i in corpus.split.train]
    unknown = sorted({r.category for r in train} - set(corpus.categories))
    if unknown:
        raise ValueError(f"labels not in the taxonomy: {unknown}")
    docs = [list(r.tokens) for r in train]
    labels = [r.category for r in train]
    extra_docs, extra_labels = teacher_rows(corpus, tokenizer, teacher or [])
    cls = train_classifier(docs + extra_docs, labels + extra_labels, seed)
    if teacher:
        # only then, so that training without a teacher still rebuilds the same artefact (and version)
        cls["meta"]["labelled_rows"] = len(docs)
        cls["meta"]["teacher_rows"] = len(extra_docs)
        cls["meta"]["teacher_labels"] = labels_digest(teacher)
    grp = train_grouping(corpus, tokenizer, seed)
    arrays = {"stopwords": word_array(stopwords), **cls["arrays"], **grp["arrays"]}
    meta: dict[str, Any] = {
        "artefact_version": ARTEFACT_VERSION,
        "seed": seed,
        "taxonomy_first_level": corpus.categories,
        "split": {
            "train": len(corpus.split.train),
            "held_out": len(corpus.split.held_out),
            "raw_eval": len(corpus.split.raw_eval),
        },
        "classifier": cls["meta"],
        "grouping": grp["meta"],
    }
    # The version names the content: the same data, seed and code give the same version.
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True, ensure_ascii=False).encode())
    for k in sorted(arrays):
        digest.update(k.encode())
        digest.update(np.ascontiguousarray(arrays[k]).tobytes())
    meta["model_version"] = f"judgement-v{ARTEFACT_VERSION}+{digest.hexdigest()[:12]}"
    return Artefact(meta, arrays)
