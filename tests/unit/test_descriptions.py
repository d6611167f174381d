"""Every field of every event schema (docs/schemas/) and of the OpenAPI document's models says what it is.

The fields that did not yet when this test was written are listed in tests/description_gaps.txt: the test
fails on a new field without a description, and on a listed field that has one now (take it off the list).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.main import create_app

REPO = Path(__file__).resolve().parents[2]
GAPS = Path(__file__).resolve().parent.parent / "description_gaps.txt"


def _undescribed(where: str, schema: dict[str, Any]) -> Iterator[str]:
    """`where.field` for each property of `schema` (and of its definitions) without a description."""
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict) and "description" not in prop and "$ref" not in prop:
            yield f"{where}.{name}"
    for name, sub in (schema.get("$defs") or {}).items():
        yield from _undescribed(f"{where}#{name}", sub)


def undescribed_fields() -> set[str]:
    """Every field without a description, in the committed event schemas and the OpenAPI models."""
    found: set[str] = set()
    for path in sorted((REPO / "docs" / "schemas").glob("*.json")):
        found |= set(_undescribed(f"event {path.stem}", json.loads(path.read_text(encoding="utf-8"))))
    for name, schema in create_app().openapi()["components"]["schemas"].items():
        found |= set(_undescribed(f"openapi {name}", schema))
    return found


def _gaps() -> set[str]:
    lines = GAPS.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_no_field_without_a_description_beyond_the_listed_gaps() -> None:
    found, listed = undescribed_fields(), _gaps()
    assert sorted(found - listed) == [], "describe these fields (Field(description=...))"
    assert sorted(listed - found) == [], "described now: take these off tests/description_gaps.txt"
