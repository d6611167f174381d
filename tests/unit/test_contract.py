"""The downstream contract: committed schemas match the code, incompatible changes need a version bump.

Regenerate with `python -m ingest.schemas.contract write` after a compatible change (a new field with a
default); an incompatible one (a field removed, renamed, retyped, newly required) needs `schema_version` + 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.schemas import contract as c
from ingest.schemas.events import TicketProcessed, TicketStatusChanged
from ingest.settings import Settings
from ingest.topics import ALL_TOPICS


def test_committed_schemas_and_asyncapi_match_the_code() -> None:
    assert c.check() == [], "\n".join(c.check())


def test_every_topic_carries_a_described_event() -> None:
    described = {t.name for item in c.CONTRACTS for t in item.topics}
    assert described == {t.name for t in ALL_TOPICS}
    for item in c.CONTRACTS:
        fields = item.model.model_fields
        assert "schema_version" in fields, item.name
        assert "event_type" in fields or item.name == "intake.record"


class _V1(BaseModel):
    schema_version: Literal[1] = 1
    ticket_id: str
    urgency: Literal["high", "normal"]
    note: str | None


def _contract(model: type[BaseModel]) -> c.EventContract:
    return c.EventContract("test.event", model, ALL_TOPICS[:1], "a test event")


def _committed(tmp_path: Path, model: type[BaseModel]) -> Path:
    item = _contract(model)
    (tmp_path / item.file_name).write_text(c.dumps(c.json_schema(item)))
    return tmp_path


class _Removed(BaseModel):
    schema_version: Literal[1] = 1
    ticket_id: str
    urgency: Literal["high", "normal"]


class _Retyped(BaseModel):
    schema_version: Literal[1] = 1
    ticket_id: int
    urgency: Literal["high", "normal"]
    note: str | None


class _Widened(BaseModel):
    schema_version: Literal[1] = 1
    ticket_id: str
    urgency: Literal["critical", "high", "normal"]
    note: str | None


class _NewRequired(BaseModel):
    schema_version: Literal[1] = 1
    ticket_id: str
    urgency: Literal["high", "normal"]
    note: str | None
    department: str


class _Renamed(BaseModel):
    schema_version: Literal[1] = 1
    ticket: str
    urgency: Literal["high", "normal"]
    note: str | None


@pytest.mark.parametrize(
    ("model", "why"),
    [
        (_Removed, "note: removed"),
        (_Retyped, "ticket_id: type changed"),
        (_Widened, "urgency: enum changed"),
        (_NewRequired, "department: new required field"),
        (_Renamed, "ticket_id: removed"),
    ],
)
def test_an_incompatible_change_without_a_version_bump_fails(
    tmp_path: Path, model: type[BaseModel], why: str
) -> None:
    committed = _committed(tmp_path, _V1)
    found = c.problems(_contract(model), committed)
    assert len(found) == 1 and "changed incompatibly at version 1" in found[0] and why in found[0], found
    assert "Bump its schema_version to 2" in found[0]


class _Compatible(BaseModel):
    schema_version: Literal[1] = 1
    ticket_id: str
    urgency: Literal["high", "normal"]
    note: str | None
    department: str | None = None


def test_a_compatible_change_only_asks_for_regeneration(tmp_path: Path) -> None:
    committed = _committed(tmp_path, _V1)
    assert c.incompatibilities(c.json_schema(_contract(_V1)), c.json_schema(_contract(_Compatible))) == []
    found = c.problems(_contract(_Compatible), committed)
    assert len(found) == 1 and "out of date (compatible change)" in found[0]


class _V2(BaseModel):
    schema_version: Literal[2] = 2
    ticket_id: str
    urgency: Literal["critical", "high", "normal"]


def test_a_version_bump_allows_the_change_and_keeps_the_old_schema(tmp_path: Path) -> None:
    committed = _committed(tmp_path, _V1)
    assert "no committed schema for version 2" in c.problems(_contract(_V2), committed)[0]
    item = _contract(_V2)
    (committed / item.file_name).write_text(c.dumps(c.json_schema(item)))
    assert c.problems(item, committed) == []
    (committed / "test.event.v1.json").unlink()
    assert "test.event.v1.json is missing" in c.problems(item, committed)[0]


def test_write_refuses_to_overwrite_a_schema_incompatibly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed = _committed(tmp_path, _V1)
    before = (committed / "test.event.v1.json").read_text()
    monkeypatch.setattr(c, "CONTRACTS", (_contract(_Retyped),))
    refused = c.write(committed, tmp_path / "asyncapi.yaml")
    assert len(refused) == 1 and "bump _Retyped.schema_version to 2" in refused[0]
    assert (committed / "test.event.v1.json").read_text() == before


def test_asyncapi_names_every_topic_and_references_the_committed_schemas() -> None:
    document = c.asyncapi_document()
    assert document["asyncapi"].startswith("3.")
    assert {ch["address"] for ch in document["channels"].values()} == {t.name for t in ALL_TOPICS}
    for message in document["components"]["messages"].values():
        assert (c.DOCS_DIR / message["payload"]["$ref"]).exists()
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(c.ASYNCAPI_PATH.read_text()) == document


def test_events_validate_against_their_committed_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    now = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    events: list[BaseModel] = [
        TicketProcessed(
            ticket_id="JS1",
            channel="wechat",
            external_id=None,
            received_at=now,
            processed_at=now,
            title="t",
            content="c",
            district="海淀区",
            address=None,
            category="traffic",
            category_confidence=0.8,
            needs_review=False,
            review_reasons=[],
            urgency="high",
            urgency_reason=None,
            department=None,
            duplicate_of=None,
            incident_id="INC1",
        ),
        TicketStatusChanged(
            event_id="JS1:1",
            ticket_id="JS1",
            seq=1,
            from_status="processed",
            to_status="dispatched",
            changed_at=now,
            actor="dispatch",
            note=None,
            department="交通委",
            received_at=now,
            channel="wechat",
            category="traffic",
            district="海淀区",
            urgency="high",
        ),
    ]
    for event in events:
        name = str(event.model_dump()["event_type"])
        schema = json.loads((c.SCHEMAS_DIR / c.contract(name).file_name).read_text())
        jsonschema.validate(json.loads(event.model_dump_json()), schema)


def test_schemas_are_served_as_committed() -> None:
    settings = Settings()
    with TestClient(create_app(settings, broker=in_process_broker(settings))) as client:
        listed = client.get("/v1/schemas").json()
        assert [e["name"] for e in listed] == [i.name for i in c.CONTRACTS]
        for entry in listed:
            served = client.get(entry["url"])
            assert served.status_code == 200
            assert served.headers["content-type"].startswith("application/schema+json")
            committed = json.loads((c.SCHEMAS_DIR / f"{entry['name']}.v{entry['version']}.json").read_text())
            assert served.json() == committed
        missing = client.get("/v1/schemas/ticket.vanished")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
