"""Measurement: HDR latency histograms corrected for coordinated omission, and counts over time.

Coordinated omission: a load generator that waits for a slow response before sending the next request
stops measuring exactly when the server is slow. Here every request has an *intended* send time from the
plan, and its latency is taken from that intended time, not from when it actually left (wrk2's method): a
request that waited in the client's backlog because the server was slow is charged for the wait.
`service_time` (from the actual send) is kept beside it for comparison: the gap between the two is the
omission a naive tool would have made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped, unused-ignore]

HIGHEST_US = 3_600_000_000  # one hour: anything slower is clamped (and a run is bounded well below it)
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
# Bucket widths for series over time, so a run of any length gets a few hundred points at most.
_NICE_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
MAX_BUCKETS = 300


class Latency:
    """An HDR histogram of latencies in microseconds (3 significant digits)."""

    def __init__(self, digits: int = 3) -> None:
        self.hist: Any = HdrHistogram(1, HIGHEST_US, digits)
        self.sum_us = 0  # for the mean: hdrh's own walks every bucket in Python

    def record(self, seconds: float) -> None:
        """Record one latency given in seconds (negative values, from clock jitter, count as 0)."""
        value = min(HIGHEST_US, max(1, round(seconds * 1e6)))
        self.hist.record_value(value)
        self.sum_us += value

    @property
    def count(self) -> int:
        """Number of values recorded."""
        return int(self.hist.get_total_count())

    def percentile_ms(self, pct: float) -> float:
        """The latency at percentile `pct` (0–100) in milliseconds."""
        return float(self.hist.get_value_at_percentile(pct)) / 1000.0

    def summary_ms(self) -> dict[str, float | int | None]:
        """p50, p90, p99, p99.9, max and mean in milliseconds, and the count; None when empty."""
        if not self.count:
            return {**dict.fromkeys(PERCENTILES), "max": None, "mean": None, "count": 0}
        values = self.hist.get_percentile_to_value_dict(list(PERCENTILES.values()))
        out: dict[str, float | int | None] = {
            name: round(float(values[pct]) / 1000.0, 3) for name, pct in PERCENTILES.items()
        }
        out["max"] = round(float(self.hist.get_max_value()) / 1000.0, 3)
        out["mean"] = round(self.sum_us / self.count / 1000.0, 3)
        out["count"] = self.count
        return out

    def spectrum_ms(self, max_nines: int = 5) -> list[tuple[float, float]]:
        """(percentile, latency ms) points on a log scale of 1/(1−p), for the HDR percentile plot."""
        if not self.count:
            return []
        steps_per_nine = 8
        pcts = [100.0 * (1.0 - 10 ** (-i / steps_per_nine)) for i in range(max_nines * steps_per_nine + 1)]
        values = self.hist.get_percentile_to_value_dict(pcts)
        points = [(round(p, 5), float(values[p]) / 1000.0) for p in pcts if p in values]
        points.append((100.0, float(self.hist.get_max_value()) / 1000.0))
        return points


def bucket_width(span_s: float) -> int:
    """A round bucket width (seconds) giving at most MAX_BUCKETS buckets over `span_s`."""
    for width in _NICE_BUCKETS_S:
        if span_s / width <= MAX_BUCKETS:
            return width
    return math.ceil(span_s / MAX_BUCKETS)


class BucketLatency:
    """Per time bucket, a small HDR histogram (milliseconds, 2 digits) for percentiles over time."""

    def __init__(self) -> None:
        self.buckets: dict[int, Any] = {}

    def record(self, bucket: int, seconds: float) -> None:
        """Record a latency in `bucket`."""
        hist = self.buckets.get(bucket)
        if hist is None:
            hist = self.buckets[bucket] = HdrHistogram(1, HIGHEST_US // 1000, 2)
        hist.record_value(min(HIGHEST_US // 1000, max(1, round(seconds * 1000.0))))

    def series(self, n: int, pct: float | None) -> list[float | None]:
        """The percentile `pct` (None = max) of each of `n` buckets, None for buckets without data."""
        return self.many(n, [pct])[pct]

    def many(self, n: int, pcts: list[float | None]) -> dict[float | None, list[float | None]]:
        """Several percentiles (None = max) of each of `n` buckets, one pass over each bucket."""
        wanted = [p for p in pcts if p is not None]
        out: dict[float | None, list[float | None]] = {p: [] for p in pcts}
        for i in range(n):
            hist = self.buckets.get(i)
            if hist is None or not hist.get_total_count():
                for p in pcts:
                    out[p].append(None)
                continue
            values = hist.get_percentile_to_value_dict(wanted) if wanted else {}
            for p in pcts:
                out[p].append(float(hist.get_max_value() if p is None else values[p]))
        return out


@dataclass
class Counter:
    """Counts per time bucket."""

    counts: dict[int, int] = field(default_factory=dict)

    def add(self, bucket: int, n: int = 1) -> None:
        """Count `n` in `bucket`."""
        self.counts[bucket] = self.counts.get(bucket, 0) + n

    def series(self, n: int) -> list[int]:
        """Counts of buckets 0..n−1."""
        return [self.counts.get(i, 0) for i in range(n)]

    @property
    def total(self) -> int:
        """Sum over all buckets."""
        return sum(self.counts.values())
