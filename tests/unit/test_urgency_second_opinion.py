"""The fine-tuned encoder's second opinion in the urgency model's band: the two stages' rule, the fallback to
the character model when the encoder's files are missing or its budget is spent, and — when `make
urgency-encoder` has built it — the encoder itself on the plain cases of test_urgency_model.py."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ingest.token_buckets import TokenBuckets
from ingest.urgency.catalogue import CRITICAL, HIGH, NORMAL
from tests.unit.test_urgency_model import DANGERS_NOW, NOT_NOW
from workers.judgement.artefact import load_artefact
from workers.judgement.urgency import second_opinion
from workers.judgement.urgency.model import URGENCY_MODEL_PATH, UrgencyModel
from workers.judgement.urgency.second_opinion import Band, SecondOpinion, default_dir, default_rate

# Everyday complaints that sound alarming, and dangers happening now (written for these tests).
MESSAGES = [(t, c) for t, c, _ in DANGERS_NOW] + NOT_NOW


class FakeOpinion(SecondOpinion):
    """A second opinion that says `score` of every message, with a budget of `rate` a second."""

    def __init__(self, band: Band, score: float, rate: float) -> None:
        self.band = band
        self.version = "fake"
        self.max_tokens = 64
        self._budget = TokenBuckets(rate, max(1, int(rate)))
        self._off = rate <= 0
        self._lock = threading.Lock()
        self.score = score
        self.asked: list[str] = []

    def scores(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        self.asked += texts
        return np.full(len(texts), self.score)


@pytest.fixture(scope="module")
def artefact_model() -> UrgencyModel:
    return UrgencyModel.load()


def test_the_band_asks_only_where_the_encoder_can_change_the_decision() -> None:
    band = Band(lower=0.15, threshold=0.3)
    assert band.upper == pytest.approx(0.6)
    assert [band.asks(s) for s in (0.1, 0.15, 0.59, 0.6)] == [False, True, True, False]
    # Above the band: urgent whatever the encoder says; in it: the mean decides; below it: never urgent.
    assert band.urgent(0.6, 0.0) and band.urgent(0.3, 0.3) and band.urgent(0.15, 0.45)
    assert not band.urgent(0.3, 0.29) and not band.urgent(0.15, 0.44) and not band.urgent(0.14, 1.0)


def test_an_encoder_that_says_normal_clears_what_it_is_asked_about(artefact_model: UrgencyModel) -> None:
    alone = artefact_model.assess_many(MESSAGES)
    band = Band(lower=0.0, threshold=0.51)
    fake = FakeOpinion(band, score=0.0, rate=1000)
    model = UrgencyModel(load_artefact(URGENCY_MODEL_PATH), fake)
    both = model.assess_many(MESSAGES)
    scores = [u.score for u in alone]
    assert len(fake.asked) == sum(band.asks(s) for s in scores) > 0
    for a, b in zip(alone, both, strict=True):
        if band.asks(a.score):
            assert b.level == NORMAL and b.reason is None, (a, b)
        else:
            assert (b.level, b.reason) == (a.level, a.reason)


def test_an_encoder_that_says_urgent_keeps_the_character_models_calls(artefact_model: UrgencyModel) -> None:
    fake = FakeOpinion(Band(lower=artefact_model.threshold, threshold=0.55), score=1.0, rate=1000)
    both = UrgencyModel(load_artefact(URGENCY_MODEL_PATH), fake).assess_many(MESSAGES)
    alone = artefact_model.assess_many(MESSAGES)
    assert [u.level for u in both] == [u.level for u in alone]
    noted = [u for u in both if u.reason and "second opinion: 1.00" in u.reason]
    assert len(noted) == len(fake.asked) > 0


def test_a_spent_budget_leaves_the_decision_to_the_character_model_and_says_so(
    artefact_model: UrgencyModel,
) -> None:
    fake = FakeOpinion(Band(lower=0.0, threshold=0.51), score=0.0, rate=0)
    both = UrgencyModel(load_artefact(URGENCY_MODEL_PATH), fake).assess_many(MESSAGES)
    alone = artefact_model.assess_many(MESSAGES)
    assert fake.asked == []
    assert [u.level for u in both] == [u.level for u in alone]
    flagged = [u for u in both if u.level != NORMAL]
    assert flagged and all("budget is spent" in str(u.reason) for u in flagged)


class BrokenOpinion(FakeOpinion):
    def scores(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        raise RuntimeError("onnxruntime failed")


def test_a_failing_encoder_leaves_the_decision_to_the_character_model(artefact_model: UrgencyModel) -> None:
    broken = BrokenOpinion(Band(lower=0.0, threshold=0.51), score=0.0, rate=1000)
    both = UrgencyModel(load_artefact(URGENCY_MODEL_PATH), broken).assess_many(MESSAGES)
    alone = artefact_model.assess_many(MESSAGES)
    assert [u.level for u in both] == [u.level for u in alone]
    flagged = [u for u in both if u.level != NORMAL]
    assert flagged and all("the encoder failed" in str(u.reason) for u in flagged)


def test_the_budget_grants_at_most_its_burst_at_once() -> None:
    fake = FakeOpinion(Band(0.0, 0.51), score=0.0, rate=3)
    assert fake.grant(10) == 3
    assert fake.grant(1) == 0


def test_missing_files_mean_no_second_opinion(tmp_path: Path) -> None:
    assert SecondOpinion.load(tmp_path) is None


def test_a_bad_rate_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(second_opinion.RATE_ENV, "fast")
    with pytest.raises(ValueError, match="JIESU_URGENCY_ENCODER_RATE"):
        default_rate()
    monkeypatch.setenv(second_opinion.RATE_ENV, "-1")
    with pytest.raises(ValueError, match="negative"):
        default_rate()
    monkeypatch.setenv(second_opinion.RATE_ENV, "0")
    assert default_rate() == 0


built = pytest.mark.skipif(
    SecondOpinion.load(default_dir(), rate=0) is None, reason="no fine-tuned encoder: make urgency-encoder"
)


@built
def test_the_built_encoder_keeps_the_dangers_and_the_everyday_complaints_normal() -> None:
    opinion = SecondOpinion.load(default_dir(), rate=1000)
    assert opinion is not None
    model = UrgencyModel.load(None, opinion)
    dangers_now = model.assess_many([(t, c) for t, c, _ in DANGERS_NOW])
    assert all(u.level in (CRITICAL, HIGH) for u in dangers_now), dangers_now
    everyday = model.assess_many(NOT_NOW)
    assert all(u.level == NORMAL for u in everyday), everyday
    dangers = opinion.scores([c for _, c, _ in DANGERS_NOW])
    calm = opinion.scores([c for _, c in NOT_NOW])
    assert dangers.min() > calm.max(), (dangers, calm)
