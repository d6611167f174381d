"""Which accepted submissions take the urgent lane (`complaints.intake.urgent`).

The screen (ingest/urgency/screen.py) says which situation a submission's opening names; each situation has a
budget of lane places a second in this gateway process. One incident reported by thousands (a burst main, a
district-wide outage) would otherwise fill the lane and queue in front of every other emergency: the first
reports alert the desk, the rest take the normal lane, and the workers still judge and publish every one of
them on `complaints.urgent`.
"""

from __future__ import annotations

from app.auth import TokenBuckets
from app.metrics import URGENT_LANE
from ingest.urgency.screen import UrgentScreen, default_screen

# How much more of the lane a situation may take with calls the screen is sure of: a real emergency is rarely
# an unsure call, an everyday complaint that merely sounds alarming often is.
SURE_BUDGET_FACTOR = 10


class UrgentLane:
    """The lane's budget per situation (a token bucket each, a larger one for the screen's sure calls)."""

    def __init__(
        self, rate: float, burst: int, screen: UrgentScreen | None = None, *, enabled: bool = True
    ) -> None:
        self.screen = screen or default_screen()
        self.enabled = enabled
        self._unsure = TokenBuckets(rate, burst)
        self._sure = TokenBuckets(rate * SURE_BUDGET_FACTOR, burst * SURE_BUDGET_FACTOR)

    def admits(self, situation: str | None, sure: bool = False) -> bool:
        """True when a submission the screen saw as `situation` takes the urgent lane now."""
        if situation is None or not self.enabled:
            return False
        budget = self._sure if sure else self._unsure
        admitted = budget.take(situation) == 0.0
        # A bounded label: the catalogue's situations and "unspecified".
        URGENT_LANE.labels(outcome="lane" if admitted else "over_budget", situation=situation).inc()
        return admitted
