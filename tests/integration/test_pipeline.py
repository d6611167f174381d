"""The walking skeleton end to end: adapter → gateway → bus → worker → Postgres → downstream topic."""

from typing import Any

import httpx
import orjson
import pytest

from ingest.bus.factory import in_process_broker
from ingest.settings import Settings
from ingest.topics import EVENTS, topic_name
from tests.integration.helpers import pipeline, read_intake, read_topic, wait_until
from tests.unit.test_submission import PHONE, WEB, WECHAT

SHAPES = [WEB, WECHAT, PHONE]


async def _submit_and_wait_processed(
    http: httpx.AsyncClient, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    tickets = []
    for body in bodies:
        resp = await http.post("/v1/complaints", json=body)
        assert resp.status_code == 202, resp.text
        tickets.append(resp.json()["ticket_id"])

    async def all_processed() -> bool:
        # Processed and linked: a ticket the urgent lane stored first (the sentinel copies what it judges
        # urgent) is `processed` before the normal lane links it and publishes its `ticket.processed`.
        got = [(await http.get(f"/v1/complaints/{t}")).json() for t in tickets]
        return all(t["status"] == "processed" and t["incident_id"] for t in got)

    assert await wait_until(all_processed, timeout_s=30)
    return [(await http.get(f"/v1/complaints/{t}")).json() for t in tickets]


def _fresh(shapes: list[dict[str, Any]], run: str) -> list[dict[str, Any]]:
    """The shapes with ids of this run: the tests share one database, and a ticket another test stored
    already is not published again on this test's topics unless its record comes through the normal lane."""
    fresh = []
    for shape in shapes:
        body = {**shape, "external_id": f"{run}-{shape['external_id']}"}
        if "call" in shape:
            body["call"] = {**shape["call"], "call_id": body["external_id"]}
        fresh.append(body)
    return fresh


async def test_three_channels_through_kafka_and_postgres(stack_settings: Settings) -> None:
    async with pipeline(stack_settings) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        stored = await _submit_and_wait_processed(http, _fresh(SHAPES, stack_settings.topic_prefix))
    assert [t["channel"] for t in stored] == ["web", "wechat", "phone"]
    assert stored[0]["district"] == "朝阳区"
    assert stored[2]["content"].startswith("我家楼下的路灯坏了")
    prefix = stack_settings.topic_prefix
    bootstrap = stack_settings.kafka_bootstrap_servers
    intake = await read_intake(bootstrap, prefix, expect=3)
    events = await read_topic(bootstrap, topic_name(EVENTS, prefix), expect=3)
    assert {orjson.loads(v)["ticket_id"] for _, v in intake} == {t["ticket_id"] for t in stored}
    assert {k.decode() for k, _ in events} == {t["ticket_id"] for t in stored}
    assert all(orjson.loads(v)["schema_version"] == 1 for _, v in events)


async def test_embedded_pipeline_on_the_in_process_bus(database_url: str) -> None:
    settings = Settings(database_url=database_url, batch_timeout_ms=50)
    assert settings.embedded_bus
    async with pipeline(settings, in_process_broker(settings)) as http:
        stored = await _submit_and_wait_processed(
            http, [{**b, "external_id": f"emb-{i}"} for i, b in enumerate(SHAPES)]
        )
    assert {t["status"] for t in stored} == {"processed"}


@pytest.mark.parametrize("ticket", ["JSAAAAAAAAAAAAAAAAAAAAAAAA", "nonsense"])
async def test_unknown_ticket_is_404(stack_settings: Settings, ticket: str) -> None:
    async with pipeline(stack_settings) as http:
        assert (await http.get(f"/v1/complaints/{ticket}")).status_code == 404
