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
