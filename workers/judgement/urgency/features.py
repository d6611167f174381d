"""What the urgency model reads in a message: its opening words as character n-grams, and the circumstances
the catalogue names — which situations' cues appear, and whether the clause that names them speaks of now or
of the past, a worry, a question, a suggestion or a notice; who is at risk, whether help is blocked, who is
exposed; and whether an indoor temperature it gives is cold or mild. Shared by training and run time, so both
see exactly the same numbers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from ingest.urgency.catalogue import CONTEXT_GROUPS, Catalogue
from ingest.urgency.phrases import Hit, PhraseMatcher
from ingest.urgency.screen import opening
from workers.judgement.features import FloatArray, char_ngram_bag, char_ngram_counts, tfidf, tfidf_bag

# Where an emergency is told: the title and the opening of the text (the rest is background and history).
CHAR_BITS = 18
CHAR_ORDERS = (1, 2, 3)
# The groups that say a clause is not about a danger now.
NOT_NOW = ("past", "resolved", "denied", "hypothetical", "question", "suggestion", "notice")
_CLAUSE_END = re.compile(r"[,.;:!?，。；：！？\n]")
# A temperature in degrees: "屋里8度", "室温十四五度", "12℃". Its number decides what words cannot: 8 degrees
# indoors is a danger, 18 is a complaint.
_TEMPERATURE = re.compile(
    r"(零下|负|-)?(?<![\d.])(\d{1,2}(?:\.\d)?|[一二两三四五六七八九十]{1,3})[多来]?(?:度|℃|°c)"
)
_OUTDOOR = ("外面", "室外", "外头", "外边", "气温", "最低", "户外", "天气")
_CLAUSE_MARKS = ",.;:!?，。；：！？\n"
_CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
# Indoor temperatures at or below COLD are cold enough to harm; from MILD up (and below a fever) they are not.
COLD = 14.0
MILD = 16.0
FEVER = 35.0


def focus_text(title: str, content: str) -> str:
    """Title and opening text as the model reads them: the gateway screen's `opening`, one rule for both."""
    return opening(title, content)


@dataclass(frozen=True)
class Reading:
    """The catalogue's phrases found in one focus text."""

    cues: list[Hit[str]]
    context: list[Hit[str]]
    clause_of: list[int]  # clause number of each cue hit
    not_now_clauses: set[int]  # clauses with a word of past, over, denied, hypothetical, question, …
    temperatures: frozenset[str] = frozenset()  # "cold" and / or "mild": indoor temperatures told

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
        self._group_column = {g: len(self.situation_ids) + i for i, g in enumerate(CONTEXT_GROUPS)}
        self._cues = PhraseMatcher((cue, s.id) for s in catalogue.situations for cue in s.cues)
        self._context = PhraseMatcher(
            (word, group) for group in CONTEXT_GROUPS for word in catalogue.context[group]
        )
        self.dense_names = (
            *(f"cue:{sid}" for sid in self.situation_ids),
            *(f"context:{g}" for g in CONTEXT_GROUPS),
            "temperature_cold",
            "temperature_mild",
            "cue_clause_now",
            "cue_clause_not_now",
            "cue_any",
        )

    def read(self, text: str) -> Reading:
        """The phrases of a focus text."""
        cues = list(self._cues.hits(text))
        context = list(self._context.hits(text))
        temperatures = indoor_temperatures(text)
        if not cues:  # the clause features only matter where a cue is
            return Reading(cues, context, [], set(), temperatures)
        ends = [m.start() for m in _CLAUSE_END.finditer(text)]
        not_now = {_clause(ends, h.start) for h in context if h.value in NOT_NOW}
        return Reading(cues, context, [_clause(ends, h.start) for h in cues], not_now, temperatures)

    def dense(self, reading: Reading) -> list[float]:
        """The dense features of one text: cue situations, context groups, cold or mild indoor temperatures,
        and cue clauses now / not now."""
        row = [0.0] * len(self.dense_names)
        for hit in reading.cues:
            row[self._column[hit.value]] = 1.0
        for hit in reading.context:
            row[self._group_column[hit.value]] = 1.0
        row[-5] = float("cold" in reading.temperatures)
        row[-4] = float("mild" in reading.temperatures)
        not_now_clauses = reading.not_now_clauses
        cue_clauses = set(reading.clause_of)
        row[-3] = float(len(cue_clauses - not_now_clauses) > 0)
        row[-2] = float(len(cue_clauses & not_now_clauses) > 0)
        row[-1] = float(bool(cue_clauses))
        return row


def _number(digits: str) -> float | None:
    """An Arabic number, or a Chinese one below 100 ("八", "十四", "二十三"; "十四五" reads as 14)."""
    if digits[0].isdigit():
        return float(digits)
    if "十" not in digits:
        return float(_CHINESE_DIGITS[digits[0]])
    tens, _, units = digits.partition("十")
    if len(tens) > 1 or "十" in units:
        return None
    return 10.0 * (_CHINESE_DIGITS[tens] if tens else 1) + (_CHINESE_DIGITS[units[0]] if units else 0)


def indoor_temperatures(text: str) -> frozenset[str]:
    """What indoor temperatures a text gives: "cold" at or below COLD, "mild" from MILD up to a fever's. Below
    zero, and temperatures of the weather outside, are neither (they say nothing of the room)."""
    found: set[str] = set()
    previous_end = 0
    for m in _TEMPERATURE.finditer(text):
        # What the temperature is of: the words since the clause began, or since the previous temperature.
        start = max(previous_end, *(text.rfind(c, 0, m.start()) + 1 for c in _CLAUSE_MARKS))
        previous_end = m.end()
        value = _number(m.group(2))
        if m.group(1) or value is None or value >= FEVER:
            continue
        if any(word in text[start : m.start()] for word in _OUTDOOR):
            continue
        if value <= COLD:
            found.add("cold")
        elif value >= MILD:
            found.add("mild")
    return frozenset(found)


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


def feature_bag(
    reader: Reader, text: str, char_idf: FloatArray, dense_scale: float
) -> tuple[npt.NDArray[np.int64], FloatArray, Reading]:
    """The same features as one row of feature_matrix, as (columns, values), with numpy only: for one
    message, scipy.sparse's per-call overhead costs more than the features themselves."""
    reading = reader.read(text)
    cols, counts = char_ngram_bag(text, CHAR_BITS, CHAR_ORDERS)
    values = tfidf_bag(cols, counts, char_idf)
    dense = np.asarray(reader.dense(reading), dtype=np.float32) * dense_scale
    on = np.flatnonzero(dense)
    return (
        np.concatenate([cols, (1 << CHAR_BITS) + on]),
        np.concatenate([values, dense[on]]).astype(np.float32),
        reading,
    )


def feature_matrix(
    reader: Reader, texts: Sequence[str], char_idf: FloatArray, dense_scale: float
) -> tuple[sparse.csr_matrix, list[Reading]]:
    """[char n-gram tf-idf | dense features × dense_scale] for focus texts, and what was read in each."""
    readings = [reader.read(t) for t in texts]
    dense = np.asarray([reader.dense(r) for r in readings], dtype=np.float32)
    chars = tfidf(char_ngram_counts(texts, CHAR_BITS, CHAR_ORDERS), char_idf)
    matrix = sparse.hstack([chars, sparse.csr_matrix(dense.reshape(len(texts), -1) * dense_scale)], "csr")
    return matrix, readings
