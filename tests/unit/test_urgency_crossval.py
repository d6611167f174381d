"""Leaving writers out: the figures at a recall, two stages where a second model rescores a band, and where
the false alarms come from."""

from __future__ import annotations

import numpy as np

from ingest.urgency.catalogue import load_catalogue
from judgement_lab.urgency.crossval import banded, false_alarms_by
from judgement_lab.urgency.training import HeldOut, TrainingSet, summarise
from workers.judgement.urgency.features import Reader
from workers.judgement.urgency.model import NONE

FIRST = np.array([0.9, 0.8, 0.7, 0.3, 0.6, 0.2, 0.1, 0.05])  # four urgent messages, then four normal ones


def _training_set() -> TrainingSet:
    ts = TrainingSet()
    for i in range(4):
        ts.add(f"urgent {i}", "fire", "train_a.jsonl", "urgent", level="critical")
    for i in range(4):
        ts.add(f"normal {i}", NONE, "train_a.jsonl", "hard_negative")
    return ts


def test_the_threshold_keeps_the_recall_and_counts_the_false_alarms_above_it() -> None:
    ts = _training_set()
    figures = summarise(ts, HeldOut(list(range(8)), FIRST, np.array([0.01, 0.4])))
    at = figures["at_recall_0.985"]
    # Every urgent score must stay at or above the threshold: the lowest urgent score, 0.3.
    assert at["threshold"] == 0.3 and at["recall"] == 1.0
    assert at["false_alarms_writers"] == 0.25  # 0.6 of four normal messages
    assert at["false_alarms_background"] == 0.5
    assert figures["threshold"] == 0.3


def test_the_second_stage_rescores_only_the_band_the_first_finds_uncertain() -> None:
    ts = _training_set()
    first = HeldOut(list(range(8)), FIRST, np.array([0.01, 0.4]))
    # The second stage is sure the normal message scored 0.6 is normal, and raises the 0.05 one (below the
    # band, so it keeps its first score).
    rescored = np.array([0.9, 0.8, 0.7, 0.35, 0.1, 0.2, 0.1, 0.99])
    second = HeldOut(list(range(8)), rescored, np.array([0.9, 0.0]))
    figures = banded(ts, first, second, 0.25, detail=False)
    assert figures["band_share_writers"] == 0.625  # five of eight scored 0.25 or more by the first
    assert figures["band_share_background"] == 0.5
    at = figures["at_recall_0.985"]
    assert at["threshold"] == 0.35 and at["recall"] == 1.0
    assert at["false_alarms_writers"] == 0.0
    assert at["false_alarms_background"] == 0.0


def test_false_alarms_are_broken_down_by_kind_context_and_cue() -> None:
    ts = TrainingSet()
    ts.add("楼道里煤气味很重，快来人", "gas_leak", "train_a.jsonl", "urgent", channel="wechat")
    ts.add("去年楼道里煤气味很重，想问找谁赔", NONE, "train_a.jsonl", "hard_negative", channel="phone")
    ts.add("建议多装几个灭火器", NONE, "train_a.jsonl", "hard_negative", channel="web")
    ts.add("楼下广场舞太吵了", NONE, "train_a.jsonl", "ordinary", channel="wechat")
    held = HeldOut([0, 1, 2, 3], np.array([0.9, 0.6, 0.1, 0.7]), np.array([]))
    found = false_alarms_by(ts, held, Reader(load_catalogue()), 0.5)
    assert found["kind"] == {"hard_negative": [1, 2], "ordinary": [1, 1]}
    assert found["channel"]["web"] == [0, 1] and found["channel"]["wechat"] == [1, 1]
    assert found["context"]["past,question"] == [1, 1]
    assert found["context"]["suggestion"] == [0, 1]
    assert found["cue"] == {"gas_leak": [1, 1], "none": [1, 2]}
