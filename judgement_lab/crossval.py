"""`python -m judgement_lab.crossval`: model-selection figures by grouped, stratified 5-fold
cross-validation on the training rows only (near-duplicate groups stay in one fold, as in the split).

Variants (the unpruned, unquantised linear SVM of `training.py` unless stated):
  baseline            word + char tf-idf, LinearSVC C=1 (what `make train` ships, before pruning)
  weak-bureau         + replies-file messages labelled by the bureau their reply names (`weak_labels.py`)
  weak-bureau-agree   + only those whose bureau label agrees with the fold's model on message + reply text
  self-reply          + replies-file messages the fold's model labels confidently from message + reply
  c-0.7, clean-labels, word-bigrams, lsa, word-char-lr, crammer-singer: see each function's docstring
  knn                 SVM scores + 0.5 x similarity-weighted vote of the 10 nearest training rows

`--held-out` then fits each variant once on all training rows and scores the held-out token rows and the
raw held-out rows (raw title + content through the tokenizer); use it only for a candidate one would ship.
Weak-label rows that resemble any held-out row are removed first (`weak_labels.leak_free`)."""

from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from judgement_lab.alignment import near_duplicate_groups
from judgement_lab.dataset import add_data_dir_option, default_data_dir
from judgement_lab.precision_recall import classification_figures
from judgement_lab.split import SEED
from judgement_lab.topic_fit import identity
from judgement_lab.training import CHAR_BITS, CHAR_ORDERS, SVM_C, Corpus, _idf, read_corpus
from judgement_lab.vocabulary import derive_stopwords
from judgement_lab.weak_labels import bureau_category, leak_free, read_replies
from workers.judgement.features import char_ngram_counts, joined_text, tfidf, word_counts
from workers.judgement.text import Tokenizer

Docs = Sequence[Sequence[str]]
Labels = npt.NDArray[np.str_]
KNN_K = 10
KNN_WEIGHT = 0.5


class FeatureSpace:
    """training.py's feature blocks fitted on some documents: word tf-idf (df ≥ 2), hashed char 2-3-grams."""

    def __init__(self, docs: Docs) -> None:
        df = Counter(w for d in docs for w in set(d))
        self.vocab = {w: i for i, w in enumerate(sorted(w for w, n in df.items() if n >= 2))}
        self.word_idf, _ = _idf(word_counts(docs, self.vocab))
        self.char_idf, char_df = _idf(
            char_ngram_counts([joined_text(d) for d in docs], CHAR_BITS, CHAR_ORDERS)
        )
        self.char_idf[char_df < 2] = 0.0

    def __call__(self, docs: Docs) -> sparse.csr_matrix:
        words = tfidf(word_counts(docs, self.vocab), self.word_idf)
        chars = char_ngram_counts([joined_text(d) for d in docs], CHAR_BITS, CHAR_ORDERS)
        return sparse.hstack([words, tfidf(chars, self.char_idf)], format="csr")


@dataclass(frozen=True)
class WeakRow:
    """A replies-file message: its tokens, the tokens of message + reply, and the named bureau's category."""

    tokens: list[str]
    with_reply: list[str]
    category: str | None


def _svm(x: sparse.csr_matrix, y: Sequence[str], c: float = SVM_C, **kw: Any) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, random_state=SEED, **kw).fit(x, y)


def _top_gap(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Best minus second-best score per row."""
    top = np.sort(scores, axis=1)
    out: npt.NDArray[np.float64] = top[:, -1] - top[:, -2]
    return out


# A variant: (training docs, labels, replies-file rows, test docs) -> predicted labels.
Variant = Callable[[Docs, Labels, Sequence[WeakRow], Docs], Labels]


def baseline(docs: Docs, y: Labels, weak: Sequence[WeakRow], test: Docs, c: float = SVM_C) -> Labels:
    """The shipped recipe (C as given)."""
    space = FeatureSpace(docs)
    out: Labels = _svm(space(docs), list(y), c).predict(space(test))
    return out


def _with_rows(docs: Docs, y: Labels, extra: Sequence[tuple[list[str], str]], test: Docs) -> Labels:
    return baseline([*docs, *(d for d, _ in extra)], np.array([*y, *(c for _, c in extra)]), [], test)


def weak_bureau(docs: Docs, y: Labels, weak: Sequence[WeakRow], test: Docs) -> Labels:
    """Train on the labelled rows plus every bureau-labelled raw message."""
    return _with_rows(docs, y, [(w.tokens, w.category) for w in weak if w.category], test)


def weak_bureau_agree(docs: Docs, y: Labels, weak: Sequence[WeakRow], test: Docs) -> Labels:
    """Keep only bureau labels that the model (trained on these labelled rows) agrees with on message +
    reply; the model never sees the fold being scored."""
    named = [w for w in weak if w.category]
    space = FeatureSpace(docs)
    guess = _svm(space(docs), list(y)).predict(space([w.with_reply for w in named]))
    return _with_rows(
        docs, y, [(w.tokens, g) for w, g in zip(named, guess, strict=True) if g == w.category], test
    )


def self_reply(docs: Docs, y: Labels, weak: Sequence[WeakRow], test: Docs) -> Labels:
    """Self-training helped by the reply: the fold's model labels message + reply, the confident ones
    (top-two score gap > 0.5) are added with their message text only."""
    space = FeatureSpace(docs)
    model = _svm(space(docs), list(y))
    scores = np.asarray(model.decision_function(space([w.with_reply for w in weak])))
    guess = np.asarray(model.classes_)[scores.argmax(axis=1)]
    sure = _top_gap(scores) > 0.5
    return _with_rows(docs, y, [(w.tokens, g) for w, g, s in zip(weak, guess, sure, strict=True) if s], test)


def clean_labels(docs: Docs, y: Labels, weak: Sequence[WeakRow], test: Docs) -> Labels:
    """Drop training rows whose inner cross-validated score for another class beats their own by > 1."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.svm import LinearSVC

    space = FeatureSpace(docs)
    x = space(docs)
    inner = StratifiedKFold(5, shuffle=True, random_state=1)
    scores = cross_val_predict(
        LinearSVC(C=SVM_C, random_state=SEED), x, y, cv=inner, method="decision_function"
    )
    own = np.searchsorted(np.unique(y), y)
    rows = np.arange(len(y))
    own_score = scores[rows, own].copy()
    scores[rows, own] = -np.inf
    keep = scores.max(axis=1) - own_score <= 1.0
    out: Labels = _svm(x[keep], list(y[keep])).predict(space(test))
    return out


def crammer_singer(docs: Docs, y: Labels, weak: Sequence[WeakRow], test: Docs) -> Labels:
    """One joint multi-class SVM instead of one-vs-rest (C=0.5; slow: ~7 min)."""
    space = FeatureSpace(docs)
    out: Labels = _svm(space(docs), list(y), 0.5, multi_class="crammer_singer").predict(space(test))
    return out


def word_char_lr(docs: Docs, y: Labels, weak: Sequence[WeakRow], test: Docs) -> Labels:
    """Separate logistic regressions on the word and the char block (C=20), log-probabilities summed
    (a product of the two calibrated posteriors; slow: ~2 min)."""
    from sklearn.linear_model import LogisticRegression

    space = FeatureSpace(docs)
    x, xt = space(docs), space(test)
    n_words = len(space.vocab)
    log_p: npt.NDArray[np.float64] = np.zeros((len(test), len(np.unique(y))))
    for cols in (slice(0, n_words), slice(n_words, None)):
        model = LogisticRegression(C=20, max_iter=2000).fit(x[:, cols], y)
        log_p += np.log(model.predict_proba(xt[:, cols]) + 1e-9)
    out: Labels = np.asarray(model.classes_)[log_p.argmax(axis=1)]
    return out


def _extended(docs: Docs, y: Labels, test: Docs, block: Callable[[Docs], Callable[[Docs], Any]]) -> Labels:
    """The baseline features plus one more block fitted on the fold's documents."""
    space = FeatureSpace(docs)
    extra = block(docs)
    x = sparse.hstack([space(docs), extra(docs)], format="csr")
    out: Labels = _svm(x, list(y)).predict(sparse.hstack([space(test), extra(test)], format="csr"))
    return out


def _bigrams(words: Sequence[str]) -> list[str]:
    return [f"{a}_{b}" for a, b in itertools.pairwise(words)]


def word_bigrams(docs: Docs, y: Labels, weak: Sequence[WeakRow], test: Docs) -> Labels:
    """+ a unit-length sublinear tf-idf block of adjacent word pairs (df ≥ 2)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    def block(fit: Docs) -> Callable[[Docs], Any]:
        vec = TfidfVectorizer(analyzer=_bigrams, sublinear_tf=True, min_df=2, dtype=np.float32).fit(fit)
        transform: Callable[[Docs], Any] = vec.transform
        return transform

    return _extended(docs, y, test, block)


def lsa(docs: Docs, y: Labels, weak: Sequence[WeakRow], test: Docs) -> Labels:
    """+ a unit-length 200-dimensional LSA vector, the SVD fitted on the fold's rows and the leak-free
    replies-file messages (in-domain co-occurrence, no labels)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    def block(fit: Docs) -> Callable[[Docs], Any]:
        texts = [*fit, *(w.tokens for w in weak)]
        vec = TfidfVectorizer(analyzer=identity, sublinear_tf=True, min_df=2, dtype=np.float32).fit(texts)
        svd = TruncatedSVD(200, random_state=SEED).fit(vec.transform(texts))

        def transform(d: Docs) -> Any:
            z = svd.transform(vec.transform(d))
            return sparse.csr_matrix(z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9))

        return transform

    return _extended(docs, y, test, block)


def knn(docs: Docs, y: Labels, weak: Sequence[WeakRow], test: Docs) -> Labels:
    """SVM scores plus a share-normalised vote of the nearest training rows (cosine of the unit features)."""
    space = FeatureSpace(docs)
    x, xt = space(docs), space(test)
    model = _svm(x, list(y))
    scores = np.asarray(model.decision_function(xt))
    classes = np.asarray(model.classes_)
    label_of = np.searchsorted(classes, y)
    sims = np.asarray((xt @ x.T).todense())
    nearest = np.argpartition(-sims, KNN_K, axis=1)[:, :KNN_K]
    votes = np.zeros_like(scores)
    rows = np.repeat(np.arange(len(test)), KNN_K)
    np.add.at(votes, (rows, label_of[nearest].ravel()), np.take_along_axis(sims, nearest, axis=1).ravel())
    votes /= votes.sum(axis=1, keepdims=True) + 1e-9
    out: Labels = classes[(scores + KNN_WEIGHT * votes).argmax(axis=1)]
    return out


VARIANTS: dict[str, Variant] = {
    "baseline": baseline,
    "c-0.7": partial(baseline, c=0.7),
    "weak-bureau": weak_bureau,
    "weak-bureau-agree": weak_bureau_agree,
    "self-reply": self_reply,
    "clean-labels": clean_labels,
    "word-bigrams": word_bigrams,
    "lsa": lsa,
    "knn": knn,
    "word-char-lr": word_char_lr,
    "crammer-singer": crammer_singer,
}
# The default run skips the slow ones.
DEFAULT_VARIANTS = [n for n in VARIANTS if n not in {"word-char-lr", "crammer-singer"}]


def weak_rows(corpus: Corpus, data_dir: Path, tokenizer: Tokenizer) -> list[WeakRow]:
    """Replies-file messages that resemble no held-out row, with their bureau label where one is named."""
    lab = corpus.labelled
    held = [joined_text(lab[i].tokens) for i in corpus.split.held_out]
    held += [joined_text(lab[i].tokens) for i, _ in corpus.split.raw_eval]
    held += [(m.title + m.content).lower() for _, m in corpus.split.raw_eval]
    out: list[WeakRow] = []
    replies = read_replies(data_dir)
    tokens = [tokenizer.tokens(m.title, m.content) for m in replies]
    free_tokens = leak_free([joined_text(t) for t in tokens], held)
    free_raw = leak_free([(m.title + m.content).lower() for m in replies], held)
    for m, t, a, b in zip(replies, tokens, free_tokens, free_raw, strict=True):
        if a and b and t:
            out.append(WeakRow(t, t + tokenizer.tokens("", m.reply), bureau_category(m.reply)))
    return out


def cross_validate(corpus: Corpus, variant: Variant, weak: Sequence[WeakRow], folds: int) -> dict[str, Any]:
    """Out-of-fold predictions for every training row, scored against its label."""
    from sklearn.model_selection import StratifiedGroupKFold

    lab = corpus.labelled
    train = list(corpus.split.train)
    groups = near_duplicate_groups(lab)
    docs = [list(lab[i].tokens) for i in train]
    y = np.array([lab[i].category for i in train])
    pred = np.empty(len(train), dtype=y.dtype)
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=0)
    for fit_idx, test_idx in splitter.split(docs, y, [groups[i] for i in train]):
        pred[test_idx] = variant([docs[i] for i in fit_idx], y[fit_idx], weak, [docs[i] for i in test_idx])
    return classification_figures(list(y), list(pred))


def held_out(
    corpus: Corpus, variant: Variant, weak: Sequence[WeakRow], tokenizer: Tokenizer
) -> dict[str, Any]:
    """Fit on all training rows; figures on the held-out tokens and on the raw held-out rows."""
    lab = corpus.labelled
    docs = [list(lab[i].tokens) for i in corpus.split.train]
    y = np.array([lab[i].category for i in corpus.split.train])
    tokens = [list(lab[i].tokens) for i in corpus.split.held_out]
    raw = [tokenizer.tokens(m.title, m.content) for _, m in corpus.split.raw_eval]
    pred = variant(docs, y, weak, tokens + raw)
    return {
        "tokens": classification_figures(
            [lab[i].category for i in corpus.split.held_out], list(pred[: len(tokens)])
        ),
        "raw": classification_figures(
            [lab[i].category for i, _ in corpus.split.raw_eval], list(pred[len(tokens) :])
        ),
    }


def main(argv: list[str] | None = None) -> int:
    """Print cross-validated (and optionally held-out) macro-F1 and accuracy per variant."""
    parser = argparse.ArgumentParser(
        prog="python -m judgement_lab.crossval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_dir_option(parser)
    parser.add_argument("--variant", choices=sorted(VARIANTS), action="append", default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--held-out", action="store_true", help="also score each variant once on held-out")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    corpus = read_corpus(data_dir)
    tokenizer = Tokenizer(derive_stopwords(corpus.labelled, corpus.unlabelled + corpus.replies))
    names: list[str] = args.variant or DEFAULT_VARIANTS
    weak = weak_rows(corpus, data_dir, tokenizer)
    named = sum(w.category is not None for w in weak)
    print(f"replies-file messages unlike every held-out row: {len(weak)}, {named} name a known bureau")
    for name in names:
        started = time.perf_counter()
        cv = cross_validate(corpus, VARIANTS[name], weak, args.folds)
        line = f"{name:<18} cv macro-F1={cv['macro_f1']:.4f} accuracy={cv['accuracy']:.4f}"
        if args.held_out:
            h = held_out(corpus, VARIANTS[name], weak, tokenizer)
            for part in ("tokens", "raw"):
                f = h[part]
                line += f" | held-out {part} macro-F1={f['macro_f1']:.4f} accuracy={f['accuracy']:.4f}"
        print(f"{line} ({time.perf_counter() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
