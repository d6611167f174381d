"""Which accepted submissions take the urgent lane (`complaints.intake.urgent`).

The screen (ingest/urgency/screen.py) says which situation a submission's opening names; the lane's budget
(ingest/urgency/lane_budget.py) says whether that situation may take another place on the lane in this gateway
process now.
"""

from __future__ import annotations

from app.metrics import URGENT_LANE
from ingest.urgency.lane_budget import LaneBudget
from ingest.urgency.screen import UrgentScreen, default_screen


class UrgentLane:
    """The screen and the lane's budget per situation."""

    def __init__(
        self, rate: float, burst: int, screen: UrgentScreen | None = None, *, enabled: bool = True
    ) -> None:
        self.screen = screen or default_screen()
        self.enabled = enabled
        self._budget = LaneBudget(rate, burst)

    def admits(self, situation: str | None, sure: bool = False) -> bool:
        """True when a submission the screen saw as `situation` takes the urgent lane now."""
        if situation is None or not self.enabled:
            return False
        admitted = self._budget.take(situation, sure)
        # A bounded label: the catalogue's situations and "unspecified".
        URGENT_LANE.labels(outcome="lane" if admitted else "over_budget", situation=situation).inc()
        return admitted
