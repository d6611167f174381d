"""Finding many catalogue phrases in a text at once (Aho–Corasick over their first literal part).

A phrase is literal text, with "…" for a short gap inside one clause ("煤气…味" finds "煤气的味道"). The
automaton finds every phrase's first part in one pass over the text; a phrase with gaps is then confirmed with
its own small expression at that place. One alternation of hundreds of phrases in `re` tries each of them at
every character, which is what this replaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import ahocorasick

from ingest.urgency.catalogue import phrase_pattern

T = TypeVar("T")


@dataclass(frozen=True)
class Hit(Generic[T]):
    """One phrase found: what it was registered with, and where the text matched it."""

    value: T
    phrase: str
    start: int
    end: int


class PhraseMatcher(Generic[T]):
    """Phrases, each with a value (a situation id, a context group), found in one pass over a text."""

    def __init__(self, phrases: Iterable[tuple[str, T]]) -> None:
        self._automaton = ahocorasick.Automaton()
        anchors: dict[str, list[tuple[str, T, re.Pattern[str] | None]]] = {}
        for phrase, value in phrases:
            head = phrase.split("…", 1)[0]
            if not head:
                raise ValueError(f"a phrase cannot start with a gap: {phrase!r}")
            tail = re.compile(phrase_pattern(phrase)) if "…" in phrase else None
            anchors.setdefault(head, []).append((phrase, value, tail))
        for head, entries in anchors.items():
            self._automaton.add_word(head, (len(head), tuple(entries)))
        self._empty = not anchors
        if not self._empty:
            self._automaton.make_automaton()

    def hits(self, text: str, start: int = 0, end: int | None = None) -> Iterator[Hit[T]]:
        """Every phrase occurring in text[start:end], in the order their first parts end."""
        if self._empty or not text:
            return
        stop = len(text) if end is None else min(end, len(text))
        if stop <= start:
            return
        for last, (length, entries) in self._automaton.iter(text, start, stop):
            begin = last + 1 - length
            for phrase, value, tail in entries:
                if tail is None:
                    yield Hit(value, phrase, begin, last + 1)
                elif m := tail.match(text, begin):
                    yield Hit(value, phrase, begin, m.end())

    def first(self, text: str, start: int = 0, end: int | None = None) -> Hit[T] | None:
        """The first hit, or None."""
        return next(self.hits(text, start, end), None)
