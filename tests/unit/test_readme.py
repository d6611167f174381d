"""README.md's generated tables match the code and data they describe."""

import json
from pathlib import Path

import pytest

from ingest.settings import REPO_ROOT, settings_table
from ingest.topics import topics_table
from loadtest.figures import FIELDS, BadFigures, figures_table, load

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _section(name: str) -> str:
    return README.split(f"<!-- {name}:begin -->\n", 1)[1].split(f"<!-- {name}:end -->", 1)[0].strip()


def test_settings_table_is_current() -> None:
    assert _section("settings") == settings_table(), "regenerate with `python -m ingest.settings`"


def test_topics_table_is_current() -> None:
    assert _section("topics") == topics_table(), "regenerate with `python -m ingest.topics markdown`"


def test_figures_table_is_current() -> None:
    assert _section("figures") == figures_table(), "regenerate with `make readme` (docs/figures.json changed)"


def test_every_figure_names_its_command_and_date() -> None:
    for row in load():
        assert row["command"].strip() and row["when"].strip(), row["figure"]


def test_a_row_without_a_field_is_refused(tmp_path: Path) -> None:
    row = dict.fromkeys(FIELDS, "x")
    del row["when"]
    path = tmp_path / "figures.json"
    path.write_text(json.dumps({"figures": [row]}), encoding="utf-8")
    with pytest.raises(BadFigures, match="row 1"):
        load(path)
