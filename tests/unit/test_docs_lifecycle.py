"""docs/storage.md's status lifecycle table says what ingest/lifecycle.py enforces."""

import re

from ingest.lifecycle import STATUSES, TRANSITIONS
from ingest.settings import REPO_ROOT


def _documented() -> dict[str, set[str]]:
    """{status: the statuses its row says it may move to} from the table under "## Status lifecycle"."""
    section = (
        (REPO_ROOT / "docs" / "storage.md").read_text(encoding="utf-8").split("## Status lifecycle", 1)[1]
    )
    rows: dict[str, set[str]] = {}
    for line in section.split("\n## ", 1)[0].splitlines():
        if match := re.fullmatch(r"\| `(\w+)` \| (.*) \|", line):
            rows[match[1]] = set(re.findall(r"`(\w+)`", match[2]))
    return rows


def test_the_documented_lifecycle_is_the_enforced_one() -> None:
    documented = _documented()
    assert list(documented) == list(STATUSES)
    assert documented == {status: set(targets) for status, targets in TRANSITIONS.items()}


def test_the_tables_section_names_every_migration_and_every_table_they_create() -> None:
    """docs/storage.md's "Tables" heading spans the migrations there are, and its table lists every table
    they create (a new migration fails this until the docs say what it added)."""
    versions = sorted(p.name[:4] for p in (REPO_ROOT / "migrations" / "versions").glob("[0-9]*.py"))
    text = (REPO_ROOT / "docs" / "storage.md").read_text(encoding="utf-8")
    heading = re.search(r"^## Tables \(migrations/versions/(\d{4})–(\d{4})\)$", text, re.MULTILINE)
    assert heading is not None and (heading[1], heading[2]) == (versions[0], versions[-1])
    section = text.split(heading[0], 1)[1].split("\n## ", 1)[0]
    listed = {
        name
        for line in section.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`(\w+)`", line.split("|")[1])
    }
    created = set()
    for path in (REPO_ROOT / "migrations" / "versions").glob("[0-9]*.py"):
        created |= set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", path.read_text(encoding="utf-8")))
    assert created and created <= listed
