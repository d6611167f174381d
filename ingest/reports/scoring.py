"""How far a count is above its seasonal baseline: one rule for the hotspots and the alerts.

The baseline of a district × category cell at an hour is its mean count at the same local hour on the previous
days (ingest/reports/rollups.py reads it). While an hour is still running only the elapsed part of it is
expected. The score is a Poisson z-score, (observed − expected) / √(expected + 1): counts of complaints are
roughly Poisson, and the +1 keeps a cell that is usually empty from scoring a single ticket as a spike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """What a cell needs to count as far above its baseline."""

    min_count: int
    min_score: float
    min_ratio: float = 1.0


def expected(baseline: float, elapsed_fraction: float = 1.0) -> float:
    """The tickets expected in the elapsed part of an hour whose whole-hour baseline is `baseline`."""
    if not 0.0 <= elapsed_fraction <= 1.0:
        raise ValueError(f"elapsed fraction {elapsed_fraction} is not within 0–1")
    return baseline * elapsed_fraction


def score(observed: int, expect: float) -> float:
    """The Poisson z-score of `observed` tickets where `expect` were expected."""
    return (observed - expect) / math.sqrt(expect + 1.0)


def is_spike(observed: int, expect: float, thresholds: Thresholds) -> bool:
    """Whether `observed` is far enough above `expect`."""
    if observed < thresholds.min_count:
        return False
    if observed < thresholds.min_ratio * expect:
        return False
    return score(observed, expect) >= thresholds.min_score


def change(now: int, before: int) -> float | None:
    """Relative change from `before` to `now` (0.25 = 25 % more); None when there was nothing before."""
    if before == 0:
        return None
    return (now - before) / before
