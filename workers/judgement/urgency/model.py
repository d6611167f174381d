"""The urgency model at run time: situation scores from a linear model, then the catalogue's rules.

Two linear heads over the same features: the urgent head's probability that a message reports some situation
of the catalogue, against the threshold chosen in training (for recall: a missed emergency is the worst
error), and the situation head, which says which one. Its level is
the situation's, raised from high to critical when the circumstances the situation names (`escalate_if`:
someone vulnerable at risk, help blocked, people exposed) appear in the message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest.urgency.catalogue import CRITICAL, HIGH, NORMAL, Catalogue, load_catalogue, parse_catalogue
from workers.judgement.artefact import MODEL_DIR, Artefact, dequantise_rows, load_artefact
from workers.judgement.features import FloatArray
from workers.judgement.urgency.features import (
    CHAR_BITS,
    NOT_NOW,
    Reader,
    Reading,
    feature_bag,
    feature_matrix,
    focus_text,
)
from workers.judgement.urgency.second_opinion import (
    ASKED,
    BUDGET_SPENT,
    FAILED,
    SECOND_OPINIONS,
    SecondOpinion,
)

log = logging.getLogger("jiesu.worker")

URGENCY_MODEL_PATH = MODEL_DIR / "urgency-v1.npz"
NONE = "none"  # the training label of a message that reports no urgent situation
URGENT = "urgent"  # the first column of the weights: the urgent head's logit
# Context groups worth naming in a reason, with the words a dispatcher reads.
_REASON_GROUPS = {"vulnerable": "at risk", "blocked": "help blocked", "exposed": "exposed"}
_QUOTE_CHARS = 40
# Below this many messages, features are built with numpy alone (see features.feature_bag).
SMALL_BATCH = 8

SituationScores = Callable[[npt.NDArray[np.int64]], FloatArray]


def _sigmoid(logits: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    return out


@dataclass(frozen=True)
class Urgency:
    """A message's urgency, the catalogue situation behind it, and why."""

    level: str
    situation: str | None
    reason: str | None
    score: float  # the model's probability that the message reports an urgent situation


class UrgencyModel:
    """Loaded once per process with the catalogue it was trained on; assessing is pure but for the second
    opinion's budget (`second`, see second_opinion.py; None: the character model decides alone)."""

    def __init__(self, artefact: Artefact, second: SecondOpinion | None = None) -> None:
        a, m = artefact.arrays, artefact.meta
        self.meta = m
        self.second = second
        # The catalogue the model was built from, so features and classes always match the weights.
        self.catalogue: Catalogue = parse_catalogue(m["catalogue"])
        self.reader = Reader(self.catalogue)
        self.classes: list[str] = list(m["classes"])
        self.threshold = float(m["threshold"])
        self.dense_scale = float(m["dense_scale"])
        self.char_idf = np.zeros(1 << CHAR_BITS, dtype=np.float32)
        self.char_idf[a["char_idf_cols"]] = a["char_idf_vals"]
        n_dense = len(self.reader.dense_names)
        weights = np.zeros(((1 << CHAR_BITS) + n_dense, len(self.classes)), dtype=np.float32)
        weights[a["char_rows"]] = dequantise_rows(a["char_weights"], a["char_scales"])
        weights[1 << CHAR_BITS :] = a["dense_weights"]
        intercept = a["intercept"].astype(np.float32)
        # The urgent head scores every message; the situation head only the few found urgent.
        self.urgent_weights = np.ascontiguousarray(weights[:, 0])
        self.urgent_intercept = float(intercept[0])
        self.situation_weights = np.ascontiguousarray(weights[:, 1:])
        self.situation_intercept = intercept[1:]

    @classmethod
    def load(cls, path: Path | None = None, second: SecondOpinion | None = None) -> UrgencyModel:
        """The committed model (workers/judgement/model/urgency-v1.npz) unless a path is given."""
        model = cls(load_artefact(path or URGENCY_MODEL_PATH), second)
        live = load_catalogue()
        if live != model.catalogue:
            log.warning(
                "the urgency model was built from another version of situations.toml: "
                "run `make urgency-model` to rebuild it from the current catalogue"
            )
        return model

    def _scored(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.float64], list[Reading], SituationScores]:
        """The urgent head's probability per focus text, what was read, and a function giving the situation
        head's scores of some of the rows (only the urgent ones are asked for)."""
        if len(texts) < SMALL_BATCH:
            bags = [feature_bag(self.reader, t, self.char_idf, self.dense_scale) for t in texts]
            logits = np.array([v @ self.urgent_weights[c] for c, v, _ in bags]) + self.urgent_intercept

            def situations_small(rows: npt.NDArray[np.int64]) -> FloatArray:
                out = [bags[i][1] @ self.situation_weights[bags[i][0]] for i in rows.tolist()]
                return np.asarray(out, dtype=np.float32) + self.situation_intercept

            return _sigmoid(logits), [r for _, _, r in bags], situations_small
        matrix, readings = feature_matrix(self.reader, texts, self.char_idf, self.dense_scale)
        logits = matrix @ self.urgent_weights + self.urgent_intercept

        def situations(rows: npt.NDArray[np.int64]) -> FloatArray:
            scores: FloatArray = matrix[rows] @ self.situation_weights + self.situation_intercept
            return scores

        return _sigmoid(logits), readings, situations

    def assess_many(self, messages: Sequence[tuple[str, str]]) -> list[Urgency]:
        """The urgency of (title, content) pairs."""
        if not messages:
            return []
        texts = [focus_text(title, content) for title, content in messages]
        p_urgent, readings, situation_scores = self._scored(texts)
        decided, notes = self._decide(texts, p_urgent)
        flagged = np.flatnonzero(decided)
        best: dict[int, int] = {}
        if flagged.size:
            best = dict(zip(flagged.tolist(), situation_scores(flagged).argmax(axis=1).tolist(), strict=True))
        out: list[Urgency] = []
        rows = zip(texts, p_urgent.tolist(), readings, strict=True)
        for i, (text, urgent, reading) in enumerate(rows):
            if i not in best:
                out.append(Urgency(NORMAL, None, None, round(urgent, 4)))
                continue
            situation = self.catalogue.by_id(self.classes[1 + best[i]])
            circumstances = [g for g in situation.escalate_if if reading.words(g)]
            level = CRITICAL if situation.level == CRITICAL or circumstances else HIGH
            reason = self._reason(situation.id, text, reading) + notes.get(i, "")
            out.append(Urgency(level, situation.id, reason, round(urgent, 4)))
        return out

    def _decide(
        self, texts: Sequence[str], p_urgent: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.bool_], dict[int, str]]:
        """Which messages are urgent, and what the reason of some of them adds: the character model's
        threshold, or in the second opinion's band the two stages' decision while its budget lasts."""
        by_chars = p_urgent >= self.threshold
        if self.second is None:
            return by_chars, {}
        band = self.second.band
        scores = p_urgent.tolist()
        wanted = [i for i, p in enumerate(scores) if band.asks(p)]
        if not wanted:
            return by_chars, {}
        asked = wanted[: self.second.grant(len(wanted))]
        spent = "; character model alone: the encoder's budget is spent"
        notes = dict.fromkeys(wanted[len(asked) :], spent)
        SECOND_OPINIONS.labels(BUDGET_SPENT).inc(len(wanted) - len(asked))
        try:
            opinions = self.second.scores([texts[i] for i in asked]).tolist()
        except Exception:
            # A message is never lost to the second opinion: the character model's call stands.
            log.exception("the urgency encoder failed: the character model decides alone for this batch")
            SECOND_OPINIONS.labels(FAILED).inc(len(asked))
            notes.update(dict.fromkeys(asked, "; character model alone: the encoder failed"))
            return by_chars, notes
        urgent = by_chars.copy()
        for i, e in zip(asked, opinions, strict=True):
            urgent[i] = band.urgent(scores[i], e)
            notes[i] = f"; second opinion: {e:.2f}"
        SECOND_OPINIONS.labels(ASKED).inc(len(asked))
        return urgent, notes

    def assess(self, title: str, content: str) -> Urgency:
        """The urgency of one message."""
        return self.assess_many([(title, content)])[0]

    def _reason(self, situation_id: str, text: str, reading: Reading) -> str:
        """`<id> <description>: “<the words that decided>”`, then who is at risk, blocked or exposed."""
        situation = self.catalogue.by_id(situation_id)
        hits = [h for h in reading.cues if h.value == situation_id] or reading.cues
        quote = text[hits[0].start : hits[0].end] if hits else _first_clause(text)
        parts = [f"{situation.label}: “{_clause_around(text, quote)}”"]
        for group, label in _REASON_GROUPS.items():
            if words := reading.words(group):
                parts.append(f"{label}: {'、'.join(words[:3])}")
        if not_now := [w for g in NOT_NOW for w in reading.words(g)]:
            parts.append(f"though it says: {'、'.join(not_now[:3])}")
        return "; ".join(parts)


def _first_clause(text: str) -> str:
    for sep in "。!?,\n":
        text = text.split(sep, 1)[0] if sep in text[:_QUOTE_CHARS] else text
    return text[:_QUOTE_CHARS]


def _clause_around(text: str, quote: str) -> str:
    """The clause of `text` that holds `quote`, at most _QUOTE_CHARS long."""
    at = text.find(quote)
    if at < 0:
        return quote[:_QUOTE_CHARS]
    seps = "。!?,;\n"
    start = max(text.rfind(s, 0, at) for s in seps) + 1
    ends = [e for e in (text.find(s, at + len(quote)) for s in seps) if e >= 0]
    end = min(ends) if ends else len(text)
    clause = text[start:end].strip()
    return clause if len(clause) <= _QUOTE_CHARS else quote[:_QUOTE_CHARS]
