"""Feature extraction shared by training and run time: word counts over a vocabulary and hashed character
n-grams, both computed for a whole batch with numpy so that no Python loop runs per n-gram."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse

FloatArray = npt.NDArray[np.float32]

# Odd 64-bit multipliers for position-dependent mixing of code points (the splitmix64 / golden-ratio family).
_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93],
    dtype=np.uint64,
)
_FINAL = np.uint64(0xFF51AFD7ED558CCD)


def joined_text(tokens: Sequence[str]) -> str:
    """Tokens glued without spaces and lower-cased: the string character n-grams are taken from."""
    return "".join(tokens).lower()


def _hashed_keys(texts: Sequence[str], bits: int, orders: Sequence[int]) -> npt.NDArray[np.uint64]:
    """(document index << bits) | n-gram hash, for every character n-gram of every text."""
    n_docs = len(texts)
    # One code-point array for the batch, each text followed by a 0 separator so no n-gram spans two texts.
    encoded = "\0".join(texts) + "\0"
    codes = np.frombuffer(encoded.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=n_docs)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.uint64), lengths)
    is_sep = codes == 0
    keys: list[npt.NDArray[np.uint64]] = []
    shift = np.uint64(64 - bits)
    for n in orders:
        m = codes.size - n + 1
        if m <= 0:
            continue
        h = np.full(m, np.uint64(n), dtype=np.uint64)
        bad = np.zeros(m, dtype=bool)
        for k in range(n):
            h = h * _MULTIPLIERS[k % 4] + codes[k : k + m]
            bad |= is_sep[k : k + m]
        h ^= h >> np.uint64(31)
        h *= _FINAL
        h >>= shift
        keys.append((doc_of[:m][~bad] << np.uint64(bits)) | h[~bad])
    return np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)


def char_ngram_counts(texts: Sequence[str], bits: int, orders: Sequence[int]) -> sparse.csr_matrix:
    """Counts of hashed character n-grams (one row per text, 2**bits columns)."""
    n_docs = len(texts)
    width = 1 << bits
    if n_docs == 0:
        return sparse.csr_matrix((0, width), dtype=np.float32)
    uniq, counts = np.unique(_hashed_keys(texts, bits, orders), return_counts=True)
    rows = (uniq >> np.uint64(bits)).astype(np.int64)
    cols = (uniq & np.uint64(width - 1)).astype(np.int64)
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_docs), out=indptr[1:])
    return sparse.csr_matrix((counts.astype(np.float32), cols, indptr), shape=(n_docs, width))


def char_ngram_bag(text: str, bits: int, orders: Sequence[int]) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Hashed n-gram columns and counts of one text, without building a sparse matrix (faster for one)."""
    uniq, counts = np.unique(_hashed_keys([text], bits, orders), return_counts=True)
    return uniq.astype(np.int64), counts.astype(np.float32)


def word_bag(words: Sequence[str], vocabulary: Mapping[str, int]) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Vocabulary columns and counts of one document."""
    counts: dict[int, int] = {}
    for w in words:
        j = vocabulary.get(w)
        if j is not None:
            counts[j] = counts.get(j, 0) + 1
    return (
        np.fromiter(counts.keys(), dtype=np.int64, count=len(counts)),
        np.fromiter(counts.values(), dtype=np.float32, count=len(counts)),
    )


def tfidf_bag(cols: npt.NDArray[np.int64], counts: FloatArray, idf: FloatArray) -> FloatArray:
    """The tfidf() weighting for one document's bag: (1 + log count) * idf, unit length."""
    v: FloatArray = ((1.0 + np.log(counts)) * idf[cols]).astype(np.float32)
    norm = float(np.sqrt(v @ v))
    return v / norm if norm > 0 else v


def word_counts(docs: Sequence[Sequence[str]], vocabulary: Mapping[str, int]) -> sparse.csr_matrix:
    """Counts of in-vocabulary words (one row per document); words outside the vocabulary are ignored."""
    indptr = [0]
    indices: list[int] = []
    data: list[int] = []
    for words in docs:
        counts: dict[int, int] = {}
        for w in words:
            j = vocabulary.get(w)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        indices.extend(counts)
        data.extend(counts.values())
        indptr.append(len(indices))
    return sparse.csr_matrix(
        (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
        shape=(len(docs), len(vocabulary)),
    )


def tfidf(counts: sparse.csr_matrix, idf: FloatArray) -> sparse.csr_matrix:
    """Sublinear tf (1 + log count) times idf, each row scaled to unit length."""
    m = counts.astype(np.float32, copy=True)
    np.log(m.data, out=m.data)
    m.data += 1.0
    m.data *= idf[m.indices]
    sq = np.asarray(m.multiply(m).sum(axis=1)).ravel()
    norms = np.sqrt(sq, dtype=np.float32)
    norms[norms == 0] = 1.0
    m.data /= np.repeat(norms, np.diff(m.indptr))
    return m
