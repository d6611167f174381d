"""What the urgency model reads in a message: its opening words as character n-grams, and the circumstances
the catalogue names — which situations' cues appear, and whether the clause that names them speaks of now or
of the past, a worry, a question, a suggestion or a notice; who is at risk, whether help is blocked, who is
exposed. Shared by training and run time, so both see exactly the same numbers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ingest.normalise import nfkc
from ingest.urgency.catalogue import CONTEXT_GROUPS, Catalogue
from ingest.urgency.phrases import Hit, PhraseMatcher
from workers.judgement.features import FloatArray, char_ngram_counts, tfidf

# Where an emergency is told: the title and the opening of the text (the rest is background and history).
FOCUS_CHARS = 240
CHAR_BITS = 18
CHAR_ORDERS = (1, 2, 3)
# The groups that say a clause is not about a danger now.
NOT_NOW = ("past", "resolved", "denied", "hypothetical", "question", "suggestion", "notice")
_CLAUSE_END = re.compile(r"[,.;:!?，。；：！？\n]")


def focus_text(title: str, content: str) -> str:
    """Title and opening text, NFKC-normalised and lower-cased, as the model reads them."""
    return nfkc(f"{title}。{content[:FOCUS_CHARS]}" if title else content[:FOCUS_CHARS]).lower()


@dataclass(frozen=True)
class Reading:
    """The catalogue's phrases found in one focus text."""

    cues: list[Hit[str]]
    context: list[Hit[str]]
    clause_of: list[int]  # clause number of each cue hit

    def groups(self) -> set[str]:
        """The context groups present anywhere in the text."""
        return {h.value for h in self.context}

    def words(self, group: str) -> list[str]:
        """The words of a context group found, in order, without repeats."""
        return list(dict.fromkeys(h.phrase for h in self.context if h.value == group))


class Reader:
    """Finds cues and context words; builds the dense part of the feature vector."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.situation_ids = catalogue.ids
        self._column = {sid: i for i, sid in enumerate(self.situation_ids)}
        self._cues = PhraseMatcher((cue, s.id) for s in catalogue.situations for cue in s.cues)
        self._context = PhraseMatcher(
            (word, group) for group in CONTEXT_GROUPS for word in catalogue.context[group]
        )
        self.dense_names = (
            *(f"cue:{sid}" for sid in self.situation_ids),
            *(f"context:{g}" for g in CONTEXT_GROUPS),
            "cue_clause_now",
            "cue_clause_not_now",
            "cue_any",
        )

    def read(self, text: str) -> Reading:
        """The phrases of a focus text."""
        cues = list(self._cues.hits(text))
        context = list(self._context.hits(text))
        ends = [m.start() for m in _CLAUSE_END.finditer(text)]
        return Reading(cues, context, [_clause(ends, h.start) for h in cues])

    def dense(self, reading: Reading, text: str) -> list[float]:
        """The dense features of one text: cue situations, context groups, and cue clauses now / not now."""
        n_sit = len(self.situation_ids)
        row = [0.0] * len(self.dense_names)
        for hit in reading.cues:
            row[self._column[hit.value]] = 1.0
        for i, group in enumerate(CONTEXT_GROUPS):
            if any(h.value == group for h in reading.context):
                row[n_sit + i] = 1.0
        ends = [m.start() for m in _CLAUSE_END.finditer(text)]
        not_now_clauses = {_clause(ends, h.start) for h in reading.context if h.value in NOT_NOW}
        cue_clauses = set(reading.clause_of)
        row[-3] = float(len(cue_clauses - not_now_clauses) > 0)
        row[-2] = float(len(cue_clauses & not_now_clauses) > 0)
        row[-1] = float(bool(cue_clauses))
        return row


# Added to every code point of the "now" copy of a text, so its n-grams hash apart from the whole text's.
_NOW_SHIFT = 0x10000


def now_text(text: str, reading: Reading) -> str:
    """The clauses of a focus text that speak of now: without those marked past, over, denied,
    hypothetical, a question, a suggestion or a notice."""
    ends = [m.start() for m in _CLAUSE_END.finditer(text)]
    not_now = {_clause(ends, h.start) for h in reading.context if h.value in NOT_NOW}
    starts = [0] + [e + 1 for e in ends]
    bounds = list(zip(starts, [*ends, len(text)], strict=True))
    return "".join(text[a:b] + "," for i, (a, b) in enumerate(bounds) if i not in not_now)


def now_shifted(text: str, reading: Reading) -> str:
    """now_text in a private code-point range: the model weighs words said of now apart from the rest."""
    return "".join(chr(min(ord(c) + _NOW_SHIFT, 0x10FFFF)) for c in now_text(text, reading))


def model_text(text: str, reading: Reading) -> str:
    """What the character n-grams are taken from: the focus text, then its clauses of now, shifted."""
    return f"{text}\u0001{now_shifted(text, reading)}"


def _clause(ends: list[int], position: int) -> int:
    """The number of the clause a position falls in (clause ends sorted)."""
    lo, hi = 0, len(ends)
    while lo < hi:
        mid = (lo + hi) // 2
        if ends[mid] < position:
            lo = mid + 1
        else:
            hi = mid
    return lo


def feature_matrix(
    reader: Reader, texts: Sequence[str], char_idf: FloatArray, dense_scale: float
) -> tuple[sparse.csr_matrix, list[Reading]]:
    """[char n-gram tf-idf | dense features × dense_scale] for focus texts, and what was read in each."""
    readings = [reader.read(t) for t in texts]
    dense = np.asarray([reader.dense(r, t) for r, t in zip(readings, texts, strict=True)], dtype=np.float32)
    grams = [model_text(t, r) for t, r in zip(texts, readings, strict=True)]
    chars = tfidf(char_ngram_counts(grams, CHAR_BITS, CHAR_ORDERS), char_idf)
    matrix = sparse.hstack([chars, sparse.csr_matrix(dense.reshape(len(texts), -1) * dense_scale)], "csr")
    return matrix, readings
