"""Word statistics derived from the data at training time: the stopword list and document frequencies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from judgement_lab.dataset import LabelledRow, RawMessage
from workers.judgement.text import cut, normalise

# A word that raw messages use in at least this many documents but that never occurs in the 7,841 labelled
# rows was removed as a stopword when that file was prepared. Lower thresholds start catching rare content
# words; this one rebuilds the labelled tokens from recovered raw text with a multiset Jaccard of 0.98.
STOPWORD_MIN_RAW_DF = 5


def derive_stopwords(labelled: Sequence[LabelledRow], raw: Iterable[RawMessage]) -> list[str]:
    """Words frequent in raw text and absent from the labelled tokens, sorted."""
    vocab = {w for r in labelled for w in r.tokens}
    df: Counter[str] = Counter()
    for m in raw:
        df.update(set(cut(normalise(f"{m.title} {m.content}"))))
    return sorted(w for w, n in df.items() if n >= STOPWORD_MIN_RAW_DF and w not in vocab and w.strip())


def document_frequencies(docs: Iterable[Sequence[str]]) -> tuple[Counter[str], int]:
    """Document frequency of each word and the number of documents."""
    df: Counter[str] = Counter()
    n = 0
    for words in docs:
        df.update(set(words))
        n += 1
    return df, n
