"""How many records the next batch may take: small while the worker keeps up, larger while it is behind.

A batch pays fixed costs (a transaction, the bucket locks, reading the other workers' incident changes, one
produce request of events, a commit). While the worker keeps up, batches come back short anyway and a small
limit keeps each record's wait low. While it is behind (every fetch comes back full) the records are waiting
in Kafka regardless, and larger batches spread the fixed costs over more records, so the backlog drains
faster (docs/performance.md, "Workers").
"""

from __future__ import annotations


class BatchSizer:
    """Doubles the limit after a full batch, up to `ceiling`; halves it, down to `base`, after a short one."""

    def __init__(self, base: int, ceiling: int) -> None:
        if base < 1:
            raise ValueError("base must be at least 1")
        self._base = base
        self._ceiling = max(base, ceiling)
        self._limit = base

    @property
    def limit(self) -> int:
        """The most records the next batch may take."""
        return self._limit

    def observe(self, taken: int) -> None:
        """Adjust after a fetch that returned `taken` records."""
        if taken >= self._limit:
            self._limit = min(self._ceiling, self._limit * 2)
        elif taken * 2 < self._limit:
            # A fetch can come back short for a moment while a backlog is being fetched; halving rather
            # than dropping to the base keeps one short fetch from undoing the growth.
            self._limit = max(self._base, self._limit // 2)
