"""The gateway on the in-process bus: 202 only after the bus took the record, 422 and 503 as problems."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.main import create_app
from ingest.bus import BusUnavailable
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessBroker
from ingest.settings import Settings
from tests.api_support import accepted_records
from tests.unit.test_submission import PHONE, WEB, WECHAT

SETTINGS = Settings(kafka_bootstrap_servers="", database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")


@pytest.fixture
def broker() -> InProcessBroker:
    return in_process_broker(SETTINGS)


@pytest.fixture
async def client(broker: InProcessBroker) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(SETTINGS, broker=broker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http


@pytest.mark.parametrize("body", [WEB, WECHAT, PHONE], ids=["web", "wechat", "phone"])
async def test_accepts_each_shape_onto_the_intake_topic(
    client: httpx.AsyncClient, broker: InProcessBroker, body: dict[str, Any]
) -> None:
    resp = await client.post("/v1/complaints", json=body)
    assert resp.status_code == 202, resp.text
    ticket_id = resp.json()["ticket_id"]
    assert resp.json()["status_url"] == f"/v1/complaints/{ticket_id}"
    [record] = accepted_records(broker)
    value = orjson.loads(record.value)
    assert value["ticket_id"] == ticket_id
    assert value["channel"] == body["channel"]
    assert ("ticket_id", ticket_id.encode()) in record.headers


async def test_retry_gets_the_same_ticket(client: httpx.AsyncClient) -> None:
    first = (await client.post("/v1/complaints", json=WEB)).json()["ticket_id"]
    second = (await client.post("/v1/complaints", json=WEB)).json()["ticket_id"]
    other = (await client.post("/v1/complaints", json={**WEB, "external_id": "web-0002"})).json()["ticket_id"]
    assert first == second != other


async def test_invalid_body_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, broker: InProcessBroker
) -> None:
    resp = await client.post("/v1/complaints", json={**WEB, "citizen": {"phone": "12"}})
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    assert any(err["field"].endswith("citizen.phone") for err in resp.json()["errors"])
    unknown = await client.post("/v1/complaints", json={**WEB, "channel": "fax"})
    assert unknown.status_code == 422
    broken = await client.post(
        "/v1/complaints", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert accepted_records(broker) == []


async def test_unavailable_bus_is_503_with_retry_after(
    client: httpx.AsyncClient, broker: InProcessBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*args: object, **kwargs: object) -> None:
        raise BusUnavailable("no acknowledgement from Kafka within 2.0s")

    monkeypatch.setattr(broker, "append", refuse)
    resp = await client.post("/v1/complaints", json=WEB)
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == str(SETTINGS.retry_after_s)
    assert "ticket_id" not in resp.json()


async def test_a_keyless_503_hands_back_the_key_that_makes_its_retry_the_same_ticket(
    client: httpx.AsyncClient, broker: InProcessBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record the bus acknowledges too late may still be stored: its retry must not be a second ticket."""
    keyless = {k: v for k, v in WEB.items() if k != "external_id"}
    real_append = broker.append

    async def acknowledge_too_late(*args: object, **kwargs: object) -> None:
        await real_append(*args, **kwargs)  # type: ignore[arg-type]
        raise BusUnavailable("no acknowledgement from Kafka within 2.0s")

    monkeypatch.setattr(broker, "append", acknowledge_too_late)
    refused = await client.post("/v1/complaints", json=keyless)
    assert refused.status_code == 503
    key = refused.headers["idempotency-key"]
    assert refused.json()["idempotency_key"] == key and key in refused.json()["detail"]
    monkeypatch.setattr(broker, "append", real_append)
    retried = await client.post("/v1/complaints", json=keyless, headers={"Idempotency-Key": key})
    assert retried.status_code == 202
    stored_late = orjson.loads(accepted_records(broker)[0].value)["ticket_id"]
    assert retried.json()["ticket_id"] == stored_late
    # With an external_id the retry is recognised anyway, and no key is handed out.
    keyed = await client.post("/v1/complaints", json={**WEB, "external_id": "web-late"})
    assert "idempotency-key" not in keyed.headers


async def test_unknown_ticket_is_404_without_touching_the_database(client: httpx.AsyncClient) -> None:
    # The database of these settings is unreachable: an id this deployment never signed must not need it.
    resp = await client.get("/v1/complaints/JSAAAAAAAAAAAAAAAAAAAAAAAA")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"


async def test_healthz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
