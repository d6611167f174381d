"""What the worker asks of the judgement library: a category, an urgency and a department for a text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Classification:
    """The judgement of one message, before deduplication."""

    category: str | None
    category_confidence: float | None
    needs_review: bool
    urgency: str
    urgency_reason: str | None
    department: str | None


class Classifier(Protocol):
    """Anything that judges a message's text."""

    def classify(self, title: str, content: str, district: str | None) -> Classification:
        """The classification of one message."""
