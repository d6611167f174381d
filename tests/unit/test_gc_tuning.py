"""The collector settings of the long-running processes (ingest/gc_tuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ingest.gc_tuning import GC_THRESHOLDS, tune_gc
from ingest.settings import Settings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_tuning_freezes_the_heap_and_raises_the_thresholds() -> None:
    gc.unfreeze()
    tune_gc(True)
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_gc")
def test_disabled_keeps_pythons_collector_as_it_is() -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    tune_gc(False)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_tuning_is_on_by_default_and_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().gc_tuning is True
    monkeypatch.setenv("JIESU_GC_TUNING", "false")
    assert Settings().gc_tuning is False
