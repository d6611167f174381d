"""The gateway's first screen for urgency: does a submission name an urgent situation's cue?

It decides only the lane — a likely-urgent submission goes on the urgent intake topic, which its own consumers
read ahead of the backlog. The workers' full judgement still decides the ticket's urgency and may confirm or
lower what the screen guessed. The screen must be cheap (it runs for every submission before the 202) and
generous (a miss waits behind the backlog; a false alarm costs only a place on the fast lane).
"""

from __future__ import annotations

import functools

from ingest.urgency.catalogue import Catalogue, load_catalogue
from ingest.urgency.phrases import PhraseMatcher

# Where a citizen says what is happening: the title and the opening of the text. Past the opening, cue
# words are mostly background ("去年也着过火") and would crowd the lane.
SCREEN_CHARS = 160


class UrgentScreen:
    """The catalogue's cues, each pointing to its situation."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._cues = PhraseMatcher((cue, s.id) for s in catalogue.situations for cue in s.cues)

    def situation(self, title: str, content: str) -> str | None:
        """The id of the first situation whose cue appears in the title or opening text, else None."""
        hit = self._cues.first(title) or self._cues.first(content, 0, SCREEN_CHARS)
        return hit.value if hit else None


@functools.cache
def default_screen() -> UrgentScreen:
    """The screen of the packaged catalogue, built once per process."""
    return UrgentScreen(load_catalogue())
