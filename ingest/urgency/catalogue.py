"""The urgent-situation catalogue (situations.toml), read once: situations, their cues and the context words.

Gateway and workers both read it — the gateway's screen from the cues, the workers' model from everything —
so one edit of the file changes both. Phrases are plain words; "…" stands for a short gap inside one clause.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

CATALOGUE_PATH = Path(__file__).resolve().parent / "situations.toml"

CRITICAL = "critical"
HIGH = "high"
NORMAL = "normal"
LEVELS = (CRITICAL, HIGH)
# The circumstances a situation may be escalated by (situations.toml, `escalate_if`).
ESCALATORS = ("vulnerable", "blocked", "exposed")
# The context groups of [context], in the order the model's features use them.
CONTEXT_GROUPS = (
    "past",
    "resolved",
    "denied",
    "hypothetical",
    "question",
    "suggestion",
    "notice",
    "now",
    *ESCALATORS,
)

# What "…" stands for: up to six characters that do not end a clause (the text is NFKC-normalised by then,
# so full-width punctuation has become ASCII).
GAP = r"[^,.;:!?，。；：！？\n]{0,6}"


@dataclass(frozen=True)
class Situation:
    """One urgent situation: what a dispatcher reads, who is alerted, and what points to it."""

    id: str
    level: str
    description: str
    desk: str
    escalate_if: tuple[str, ...]
    cues: tuple[str, ...]
    examples: tuple[str, ...]

    @property
    def label(self) -> str:
        """`<id> <description>`, as a ticket's urgency reason starts."""
        return f"{self.id} {self.description}"


@dataclass(frozen=True)
class Catalogue:
    """Every situation, and the context words by group."""

    version: int
    situations: tuple[Situation, ...]
    context: dict[str, tuple[str, ...]]

    def by_id(self, situation_id: str) -> Situation:
        """The situation with that id (KeyError when the catalogue has none)."""
        for s in self.situations:
            if s.id == situation_id:
                return s
        raise KeyError(situation_id)

    @property
    def ids(self) -> tuple[str, ...]:
        """Situation ids in catalogue order."""
        return tuple(s.id for s in self.situations)


def phrase_pattern(phrase: str) -> str:
    """The regular expression of one catalogue phrase: literal text, "…" a short gap in one clause."""
    return GAP.join(re.escape(part) for part in phrase.split("…"))


def phrases_regex(phrases: tuple[str, ...] | list[str]) -> re.Pattern[str]:
    """One compiled alternation of phrases, longest first (so the reported match is the most specific)."""
    ordered = sorted(set(phrases), key=len, reverse=True)
    return re.compile("|".join(phrase_pattern(p) for p in ordered) or r"(?!x)x")


class CatalogueError(ValueError):
    """situations.toml is not a valid catalogue; the message says where."""


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CatalogueError(f"{where}: expected a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _situation(raw: dict[str, object], index: int) -> Situation:
    where = f"situation #{index + 1} ({raw.get('id', '?')})"
    for key in ("id", "level", "description", "desk"):
        if not isinstance(raw.get(key), str) or not str(raw[key]).strip():
            raise CatalogueError(f"{where}: `{key}` is missing or empty")
    if raw["level"] not in LEVELS:
        raise CatalogueError(f"{where}: level must be one of {', '.join(LEVELS)}")
    escalate_if = _strings(raw.get("escalate_if", []), f"{where} escalate_if")
    if unknown := set(escalate_if) - set(ESCALATORS):
        raise CatalogueError(f"{where}: escalate_if takes {', '.join(ESCALATORS)}, not {sorted(unknown)}")
    return Situation(
        id=str(raw["id"]).strip(),
        level=str(raw["level"]),
        description=str(raw["description"]).strip(),
        desk=str(raw["desk"]).strip(),
        escalate_if=escalate_if,
        cues=_strings(raw.get("cues", []), f"{where} cues"),
        examples=_strings(raw.get("examples", []), f"{where} examples"),
    )


def parse_catalogue(text: str) -> Catalogue:
    """Parse and check a catalogue; CatalogueError names the first problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"situations.toml: {exc}") from exc
    situations = tuple(_situation(s, i) for i, s in enumerate(raw.get("situation", [])))
    if not situations:
        raise CatalogueError("situations.toml: no [[situation]]")
    ids = [s.id for s in situations]
    if dupes := sorted({i for i in ids if ids.count(i) > 1}):
        raise CatalogueError(f"situations.toml: duplicate situation ids {dupes}")
    context_raw = raw.get("context", {})
    context = {g: _strings(context_raw.get(g, []), f"[context] {g}") for g in CONTEXT_GROUPS}
    return Catalogue(int(raw.get("version", 1)), situations, context)


@functools.cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """The catalogue at `path` (default: the one next to this module), parsed once per process."""
    return parse_catalogue(path.read_text(encoding="utf-8"))
