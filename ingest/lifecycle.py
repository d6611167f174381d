"""A ticket's status lifecycle: received → processed → dispatched → resolved → closed, or rejected.

`received` is the state of an accepted submission the workers have not stored yet; every stored ticket is at
least `processed`. Downstream systems move tickets on through the API; every move is one of `TRANSITIONS`.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["received", "processed", "dispatched", "resolved", "closed", "rejected"]
STATUSES: tuple[Status, ...] = ("received", "processed", "dispatched", "resolved", "closed", "rejected")

# resolved → dispatched is the citizen's follow-up call finding the problem still there (reopened).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    "received": frozenset(),
    "processed": frozenset({"dispatched", "rejected"}),
    "dispatched": frozenset({"resolved", "rejected"}),
    "resolved": frozenset({"closed", "dispatched"}),
    "closed": frozenset(),
    "rejected": frozenset(),
}


def can_move(current: Status, target: Status) -> bool:
    """True when a ticket in `current` may be moved to `target`."""
    return target in TRANSITIONS[current]
