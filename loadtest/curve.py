"""The hotline's day as data: the share of a day's messages per hour, and the shape of an incident burst.

Counts are apportioned to one-minute buckets with the largest-remainder method, so a profile's buckets always
sum exactly to the number of messages asked for, whatever the scale.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

DAY_S = 24 * 3600
BUCKET_S = 60

# Relative weight of each hour of a 12345 hotline's day: quiet night, a morning peak (9–11), a lunch dip,
# an afternoon peak (14–16), a long evening tail. Shape after published 12345 hourly-volume charts; the
# absolute level is set by the profile's daily total.
HOURLY_WEIGHTS: tuple[float, ...] = (
    1.2, 0.7, 0.5, 0.4, 0.4, 0.6,  # 00–05
    1.2, 2.8, 5.5, 7.6, 8.2, 7.4,  # 06–11
    5.2, 5.6, 7.3, 7.8, 7.4, 6.0,  # 12–17
    4.4, 4.0, 3.8, 3.2, 2.4, 1.7,  # 18–23
)  # fmt: skip


def hourly_shares() -> NDArray[np.float64]:
    """The 24 hourly shares of a day's messages (they sum to 1)."""
    weights = np.asarray(HOURLY_WEIGHTS, dtype=np.float64)
    shares: NDArray[np.float64] = weights / weights.sum()
    return shares


def minute_weights() -> NDArray[np.float64]:
    """The daily curve at one-minute resolution, interpolated between hour midpoints (sums to 1)."""
    hours = hourly_shares()
    minutes = (np.arange(DAY_S // BUCKET_S) + 0.5) / 60.0  # hour of day at each minute's midpoint
    # Circular interpolation so 23:59 flows into 00:00.
    xs = np.concatenate(([-0.5], np.arange(24) + 0.5, [24.5]))
    ys = np.concatenate(([hours[-1]], hours, [hours[0]]))
    curve = np.interp(minutes, xs, ys)
    normalised: NDArray[np.float64] = curve / curve.sum()
    return normalised


def apportion(total: int, weights: NDArray[np.float64]) -> NDArray[np.int64]:
    """Integer counts proportional to `weights` that sum exactly to `total` (largest remainder)."""
    if total < 0:
        raise ValueError("total must be >= 0")
    share = weights / weights.sum()
    exact = share * total
    counts: NDArray[np.int64] = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    if short:
        # Ties broken by position so the result does not depend on sort stability.
        order = np.lexsort((np.arange(len(exact)), -(exact - counts)))
        counts[order[:short]] += 1
    return counts


def burst_cdf(t_s: NDArray[np.float64], window_s: float, tau_s: float) -> NDArray[np.float64]:
    """CDF of the burst over its window: a gamma(2) rise and decay (t·e^(−t/τ)), truncated at `window_s`."""

    def raw(x: NDArray[np.float64]) -> NDArray[np.float64]:
        value: NDArray[np.float64] = 1.0 - np.exp(-x / tau_s) * (1.0 + x / tau_s)
        return value

    clipped = np.clip(t_s, 0.0, window_s)
    cdf: NDArray[np.float64] = raw(clipped) / raw(np.asarray([window_s], dtype=np.float64))[0]
    return cdf


def burst_offsets(n: int, window_s: float, tau_s: float, rng: np.random.Generator) -> NDArray[np.float64]:
    """`n` arrival offsets (seconds from the burst's start) drawn from the burst's shape, sorted."""
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    grid = np.linspace(0.0, window_s, 2049)
    cdf = burst_cdf(grid, window_s, tau_s)
    u = np.sort(rng.random(n))
    return np.asarray(np.interp(u, cdf, grid), dtype=np.float64)


def day_offsets(total: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """`total` arrival times over one day (seconds since midnight) following the curve, sorted.

    Exactly the apportioned count falls in each minute; within a minute arrivals are uniform (Poisson-like).
    """
    counts = apportion(total, minute_weights())
    starts = np.repeat(np.arange(len(counts), dtype=np.float64) * BUCKET_S, counts)
    return np.sort(starts + rng.random(total) * BUCKET_S)


def empty_stretches(total: int, window: tuple[float, float] = (0.0, float(DAY_S))) -> list[tuple[int, int]]:
    """Stretches of minutes of the day, [first, end), inside `window` that get no message when `total` are
    spread over the day: at small scales the quiet night rounds to zero messages a minute."""
    counts = apportion(total, minute_weights())
    first, end = int(window[0] // BUCKET_S), math.ceil(window[1] / BUCKET_S)
    stretches: list[tuple[int, int]] = []
    start: int | None = None
    for minute in range(first, end):
        if counts[minute] == 0 and start is None:
            start = minute
        elif counts[minute] and start is not None:
            stretches.append((start, minute))
            start = None
    if start is not None:
        stretches.append((start, end))
    return stretches


def peak_rate(total: int) -> float:
    """Messages per second in the busiest minute of the curve for a day of `total` messages."""
    return float(math.ceil(apportion(total, minute_weights()).max())) / BUCKET_S
