"""Adapts the judgement library (workers/judgement) to the worker's Classifier protocol."""

from __future__ import annotations

from workers.judging import Classification, Classifier


class Unjudged:
    """Used only until the judgement library is wired in: marks everything for human review."""

    def classify(self, title: str, content: str, district: str | None) -> Classification:
        """No category, normal urgency, needs review."""
        return Classification(None, None, True, "normal", None, None)


def load() -> Classifier:
    """The classifier the worker uses."""
    return Unjudged()
