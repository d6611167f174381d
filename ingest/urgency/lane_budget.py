"""The urgent lane's budget: how many places a second each situation may take on the lane.

One incident reported by thousands (a burst main, a district-wide outage) would otherwise fill the lane and
queue in front of every other emergency: the first reports alert the desk, the rest take the normal lane, and
the workers still judge and publish every one of them on `complaints.urgent`. The gateway's screen and the
workers' sentinel (workers/sentinel.py) both send submissions onto the lane, each under a budget of its own
kept by this rule.
"""

from __future__ import annotations

from ingest.token_buckets import TokenBuckets

# How much more of the lane a situation may take with calls the caller is sure of: a real emergency is rarely
# an unsure call, an everyday complaint that merely sounds alarming often is.
SURE_BUDGET_FACTOR = 10


class LaneBudget:
    """A token bucket per situation, and a larger one for sure calls."""

    def __init__(self, rate: float, burst: int) -> None:
        self._unsure = TokenBuckets(rate, burst)
        self._sure = TokenBuckets(rate * SURE_BUDGET_FACTOR, burst * SURE_BUDGET_FACTOR)

    def take(self, situation: str, sure: bool = False) -> bool:
        """True when a submission seen as `situation` may take the urgent lane now (its place is taken)."""
        budget = self._sure if sure else self._unsure
        return budget.take(situation) == 0.0
