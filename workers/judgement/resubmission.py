"""Resubmissions: the same citizen sending the same or nearly the same text again within a window."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

# Char 3-gram Jaccard of the normalised texts; a resubmission typically edits a title word or appends
# "急需处理！" (gold sample: 0.93), while two different messages of one citizen about one problem score < 0.5.
RESUBMISSION_JACCARD = 0.8
SHINGLE = 3
_NOISE = re.compile(r"[\W_]+")


def shingles(text: str) -> frozenset[str]:
    """Character 3-grams of text with punctuation and spaces removed."""
    t = _NOISE.sub("", text).lower()
    if len(t) < SHINGLE:
        return frozenset({t}) if t else frozenset()
    return frozenset(t[i : i + SHINGLE] for i in range(len(t) - SHINGLE + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two sets (0 for two empty sets)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def is_resubmission(text_a: str, text_b: str, threshold: float = RESUBMISSION_JACCARD) -> bool:
    """Whether two texts are the same message sent again (identical or nearly so)."""
    return jaccard(shingles(text_a), shingles(text_b)) >= threshold


@dataclass(frozen=True)
class PriorMessage:
    """An earlier, original (not itself a resubmission) message of a citizen."""

    id: str
    text: str
    submitted_at: datetime
    incident_id: str | None


class ResubmissionStore(Protocol):
    """Recent original messages per citizen; in Postgres a query on the tickets table by citizen key."""

    def recent(self, citizen: str, since: datetime) -> Sequence[PriorMessage]:
        """The citizen's original messages submitted at or after `since`, oldest first."""
        ...

    def remember(self, citizen: str, message: PriorMessage) -> None:
        """Record an original message."""
        ...


class InMemoryResubmissionStore:
    """Per-citizen lists of original messages, in submission order."""

    def __init__(self) -> None:
        self._by_citizen: dict[str, list[PriorMessage]] = {}

    def recent(self, citizen: str, since: datetime) -> Sequence[PriorMessage]:
        """The citizen's original messages submitted at or after `since`, oldest first."""
        return [m for m in self._by_citizen.get(citizen, ()) if m.submitted_at >= since]

    def remember(self, citizen: str, message: PriorMessage) -> None:
        """Record an original message."""
        self._by_citizen.setdefault(citizen, []).append(message)


class ResubmissionDetector:
    """Links a message to the citizen's first near-identical message within the window."""

    def __init__(
        self, store: ResubmissionStore, window: timedelta, threshold: float = RESUBMISSION_JACCARD
    ) -> None:
        self.store = store
        self.window = window
        self.threshold = threshold

    def find_original(self, citizen: str | None, text: str, at: datetime) -> PriorMessage | None:
        """The earliest earlier message of this citizen that this text resubmits, if any."""
        if not citizen:
            return None
        mine = shingles(text)
        for prior in self.store.recent(citizen, at - self.window):
            if prior.submitted_at <= at and jaccard(mine, shingles(prior.text)) >= self.threshold:
                return prior
        return None

    def remember(self, citizen: str | None, message: PriorMessage) -> None:
        """Record an original message (resubmissions are not recorded: later ones link to the first)."""
        if citizen:
            self.store.remember(citizen, message)
