"""The gateway's first screen for urgency: is a submission likely urgent?

It decides only the lane — a likely-urgent submission goes on the urgent intake topic, which its own consumers
read ahead of the backlog. The workers' full judgement still decides the ticket's urgency and may confirm or
lower what the screen guessed. The screen must be cheap (it runs for every submission before the 202) and
generous (a miss waits behind the backlog; a false alarm costs only a place on the fast lane).

It is a sparse linear model over the character bigrams and trigrams of the submission's opening, learnt from
the urgency corpus by `make urgency-model` (screen-model.json, next to this module), found in one pass with an
Aho–Corasick automaton. The catalogue's cues name the situation when one is present.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import ahocorasick_rs

from ingest.normalise import nfkc
from ingest.urgency.catalogue import Catalogue, load_catalogue
from ingest.urgency.phrases import PhraseMatcher

SCREEN_MODEL_PATH = Path(__file__).resolve().parent / "screen-model.json"
# Where a citizen says what is happening: the title and the opening of the text. Past the opening, danger
# words are mostly background ("去年也着过火") and would crowd the lane.
OPENING_CHARS = 160
# The screen's situation when its model finds a submission likely urgent but no cue names the situation.
UNSPECIFIED = "unspecified"
_SPACES = re.compile(r"\s\s+")
# At and above this probability that a submission is urgent, a call is sure (ScreenCall.sure; the lane's
# budget is larger for sure calls, ingest/urgency/lane_budget.py).
SURE_PROBABILITY = 0.95
SURE_LOGIT = math.log(SURE_PROBABILITY / (1 - SURE_PROBABILITY))


def opening(title: str, content: str, *, normalised: bool = False) -> str:
    """The title and the start of the text, NFKC-normalised (skipped when the caller says it already is, as
    the gateway's submissions are), lower-cased, runs of spaces made one: what the screen and the workers'
    urgency model read."""
    text = f"{title}。{content[:OPENING_CHARS]}" if title else content[:OPENING_CHARS]
    return _SPACES.sub(" ", (text if normalised else nfkc(text)).lower())


@dataclass(frozen=True)
class ScreenCall:
    """The screen's call on a likely-urgent submission."""

    situation: str
    # Sure: the model's probability is at least 0.95. The threshold that keeps 97 % of urgent messages is far
    # lower and lets through many everyday complaints; the lane's budget is strict only for the unsure ones.
    sure: bool


@dataclass(frozen=True)
class ScreenModel:
    """The screen's weights: n-gram → weight, an intercept and the probability threshold."""

    weights: dict[str, float]
    intercept: float
    threshold: float

    @classmethod
    def load(cls, path: Path = SCREEN_MODEL_PATH) -> ScreenModel:
        """Read screen-model.json."""
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(dict(raw["weights"]), float(raw["intercept"]), float(raw["threshold"]))


class UrgentScreen:
    """Scores a submission's opening; the catalogue's cues name the situation."""

    def __init__(self, catalogue: Catalogue, model: ScreenModel) -> None:
        self._cues = PhraseMatcher((cue, s.id) for s in catalogue.situations for cue in s.cues)
        grams = sorted(model.weights)
        self._grams = ahocorasick_rs.AhoCorasick(grams) if grams else None
        self._weights = [model.weights[g] for g in grams]
        self._intercept = model.intercept
        # Compare logits, not probabilities: no exp per submission.
        t = min(max(model.threshold, 1e-9), 1 - 1e-9)
        self._logit_threshold = math.log(t / (1 - t))

    def score(self, text: str) -> float:
        """The model's logit for an opening (see `opening`)."""
        if self._grams is None:
            return self._intercept
        found = {i for i, _, _ in self._grams.find_matches_as_indexes(text, overlapping=True)}
        weights = self._weights
        return self._intercept + sum(weights[i] for i in found)

    def call(self, title: str, content: str, *, normalised: bool = False) -> ScreenCall | None:
        """None when the submission looks ordinary; else the situation its cues name (or UNSPECIFIED) and
        whether the screen is sure. `normalised`: title and content are NFKC-normalised already (as the
        gateway's submissions are)."""
        text = opening(title, content, normalised=normalised)
        logit = self.score(text)
        if logit < self._logit_threshold:
            return None
        hit = self._cues.first(text)
        return ScreenCall(hit.value if hit else UNSPECIFIED, logit >= SURE_LOGIT)

    def situation(self, title: str, content: str, *, normalised: bool = False) -> str | None:
        """The situation of `call`, or None."""
        found = self.call(title, content, normalised=normalised)
        return found.situation if found else None


@functools.cache
def default_screen() -> UrgentScreen:
    """The screen of the packaged catalogue and screen model, built once per process."""
    return UrgentScreen(load_catalogue(), ScreenModel.load())
