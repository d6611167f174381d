"""Rewrite README.md's generated sections (figures, topics, settings) from their sources: `make readme`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.settings import REPO_ROOT, settings_table
from ingest.topics import topics_table
from loadtest.figures import figures_table


def main() -> None:
    """Replace the text between `<!-- name:begin -->` and `<!-- name:end -->` for each generated table."""
    path = REPO_ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    for name, table in (
        ("figures", figures_table()),
        ("topics", topics_table()),
        ("settings", settings_table()),
    ):
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m: f"{m.group(1)}{table}\n{m.group(2)}", text)  # noqa: B023 (used at once)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
