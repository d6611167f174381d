"""Token buckets by name, in memory: the gateway's rate limits and the urgent lane's budgets."""

from __future__ import annotations

import time


class TokenBuckets:
    """A token bucket per name (in memory, per process): `rate` tokens a second, `burst` at most."""

    def __init__(self, rate: float, burst: int, max_names: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        # A bound for buckets keyed by callers' own names (WeChat openids): the oldest is forgotten first,
        # which only hands that name a full bucket again.
        self._max_names = max_names
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, name: str, cost: int = 1, now: float | None = None) -> float:
        """Take `cost` tokens; 0 when granted, else the seconds until they would be there (nothing taken)."""
        if self.rate <= 0:
            return 0.0
        clock = time.monotonic() if now is None else now
        cost = min(cost, self.burst)
        found = self._buckets.get(name)
        if found is None and len(self._buckets) >= self._max_names:
            del self._buckets[next(iter(self._buckets))]
        tokens, last = found or (float(self.burst), clock)
        tokens = min(float(self.burst), tokens + (clock - last) * self.rate)
        if tokens >= cost:
            self._buckets[name] = (tokens - cost, clock)
            return 0.0
        self._buckets[name] = (tokens, clock)
        return (cost - tokens) / self.rate
