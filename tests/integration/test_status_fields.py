"""The free-text fields of a status change (the note, the department), filled with generated text of all of
Unicode and sent on into the real Postgres: each change is stored (200) or refused naming the field (422),
never a 500 from a value the database refuses."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.settings import Settings
from tests.api_support import bearer
from tests.integration.helpers import fetchval
from tests.integration.test_read_api import _row, _store

KEY = "dispatch-desk-key-0123456789"
FIELDS = {"note": 2000, "department": 128}


class Lifecycle:
    """One stored ticket moved back and forth between dispatched and resolved, one change per example."""

    def __init__(self, client: TestClient, config: Settings, ticket_id: str) -> None:
        self.client, self.settings, self.ticket_id = client, config, ticket_id
        self.status = "processed"

    def move(self, field: str, value: str) -> tuple[int, Any]:
        target = "resolved" if self.status == "dispatched" else "dispatched"
        # ensure_ascii: lone surrogates travel as JSON escapes, as a client's JSON writer would send them.
        body = json.dumps({"status": target, field: value}, ensure_ascii=True)
        answer = self.client.post(
            f"/v1/complaints/{self.ticket_id}/status",
            content=body,
            headers={**bearer(KEY), "content-type": "application/json"},
        )
        if answer.status_code == 200:
            self.status = target
        return answer.status_code, answer.json()


@pytest.fixture
def lifecycle(database_url: str) -> Iterator[Lifecycle]:
    config = Settings(database_url=database_url, downstream_keys=f"dispatch:{KEY}")
    row = _row(config.ticket_secret, datetime.now(UTC), district=f"s-{uuid.uuid4().hex[:6]}")
    asyncio.run(_store(config, [row]))
    app = create_app(config, broker=in_process_broker(config))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Lifecycle(client, config, row.ticket_id)


# All of Unicode, and often the characters that trouble a database or a mask: NUL, a lone surrogate, other
# controls, invisible ones, full-width digits.
AWKWARD = st.text(
    alphabet=st.sampled_from("\x00\ud800\udfff\x1f\x7f\u200b\ufeff\t\r\n １３８0a回电"), max_size=40
)


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(sorted(FIELDS)), value=st.one_of(st.text(max_size=300), AWKWARD))
def test_generated_text_in_a_status_change_is_stored_or_refused_by_name(
    lifecycle: Lifecycle, field: str, value: str
) -> None:
    status, answer = lifecycle.move(field, value)
    assert status in (200, 422), answer
    if status == 422:
        assert [e["field"] for e in answer["errors"]] == [field], answer


def test_every_change_made_is_in_the_history(lifecycle: Lifecycle) -> None:
    for value in ("\x00", "１３８００１３８０００", "\ud800", "a" * 3000):
        lifecycle.move("note", value)
    count = asyncio.run(
        fetchval(
            lifecycle.settings,
            "SELECT count(*) FROM ticket_status_history WHERE ticket_id = $1",
            lifecycle.ticket_id,
        )
    )
    # The three storable notes moved the ticket; the one over 2,000 characters was refused.
    assert count == 3
