"""README.md's generated tables match the code they describe."""

from ingest.settings import REPO_ROOT, settings_table
from ingest.topics import topics_table

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _section(name: str) -> str:
    return README.split(f"<!-- {name}:begin -->\n", 1)[1].split(f"<!-- {name}:end -->", 1)[0].strip()


def test_settings_table_is_current() -> None:
    assert _section("settings") == settings_table(), "regenerate with `python -m ingest.settings`"


def test_topics_table_is_current() -> None:
    assert _section("topics") == topics_table(), "regenerate with `python -m ingest.topics markdown`"
