"""README.md's table of current figures, rendered from docs/figures.json.

The JSON holds the latest measured figure of each kind with when (date, run, code) and how (the command that
reproduces it) it was measured; `make readme` renders it into README.md and tests/unit/test_readme.py fails
when the two differ, so the README never carries a figure without its source.
"""

from __future__ import annotations

import json
from pathlib import Path

from ingest.settings import REPO_ROOT

FIGURES = REPO_ROOT / "docs" / "figures.json"
FIELDS = ("component", "figure", "measured", "target", "status", "when", "command")
HEADER = ("", "figure", "measured", "target", "", "measured on", "reproduce")


class BadFigures(ValueError):
    """docs/figures.json is not a list of rows with exactly FIELDS, each a string."""


def load(path: Path = FIGURES) -> list[dict[str, str]]:
    """The rows of `path`, checked: a row with a missing, extra or non-string field is refused by number."""
    rows = json.loads(path.read_text(encoding="utf-8")).get("figures")
    if not isinstance(rows, list) or not rows:
        raise BadFigures(f"{path}: 'figures' must be a non-empty list")
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or tuple(row) != FIELDS:
            fields = ", ".join(FIELDS)
            raise BadFigures(f"{path}: row {number} must have exactly the fields {fields}, in order")
        if not all(isinstance(value, str) for value in row.values()):
            raise BadFigures(f"{path}: row {number} has a value that is not a string")
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def figures_table(rows: list[dict[str, str]] | None = None) -> str:
    """The Markdown table: the component named on its first row only, the command in code."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    previous = None
    for row in load() if rows is None else rows:
        component = row["component"] if row["component"] != previous else ""
        previous = row["component"]
        cells = [
            f"**{component}**" if component else "",
            row["figure"],
            row["measured"],
            row["target"],
            row["status"],
            row["when"],
            f"`{row['command']}`",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(figures_table())
