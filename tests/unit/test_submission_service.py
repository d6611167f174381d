"""One way in: every entry point answers the submission service's rules alike, each in its own format."""

from __future__ import annotations

import ast
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.submission import MAX_IDEMPOTENCY_KEY
from ingest.bus import BusUnavailable
from tests.api_support import WEB_KEY, accepted_records, bearer, gateway, settings

WEB = {
    "channel": "web",
    "content": "朝阳区望京西园三区门口的烧烤摊每天营业到凌晨两点。",
    "citizen": {"phone": "13800138000"},
}
OPEN311_FORM = {
    "api_key": WEB_KEY,
    "service_code": "environmental-protection",
    "address_string": "朝阳区望京西园三区",
    "description": WEB["content"],
}

# How each entry point submits one keyless submission, and where its answer carries the ticket id.
Post = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]


async def _json(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await http.post("/v1/complaints", json=WEB, headers={**bearer(WEB_KEY), **headers})


async def _batch(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await http.post(
        "/v1/complaints/batch", json={"items": [WEB]}, headers={**bearer(WEB_KEY), **headers}
    )


async def _open311(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await http.post("/open311/v2/requests.json", data=OPEN311_FORM, headers=headers)


def _ticket(resp: httpx.Response) -> str:
    body: Any = resp.json()
    if isinstance(body, list):  # Open311: [{"token": …}]
        return str(body[0]["token"])
    if "results" in body:
        return str(body["results"][0]["ticket_id"])
    return str(body["ticket_id"])


ENTRY_POINTS: dict[str, tuple[Post, int, int]] = {
    # name: (post, status of an invalid request, status when accepted)
    "json": (_json, 422, 202),
    "batch": (_batch, 422, 202),
    "open311": (_open311, 400, 200),
}


@pytest.mark.parametrize("name", ENTRY_POINTS)
async def test_an_over_long_idempotency_key_is_refused_not_cut(name: str) -> None:
    post, invalid, ok = ENTRY_POINTS[name]
    async with gateway(settings()) as (http, broker, _):
        resp = await post(http, {"Idempotency-Key": "k" * (MAX_IDEMPOTENCY_KEY + 1)})
        assert resp.status_code == invalid
        assert "idempotency-key" in resp.text
        assert accepted_records(broker) == []
        assert (await post(http, {"Idempotency-Key": "k" * MAX_IDEMPOTENCY_KEY})).status_code == ok


@pytest.mark.parametrize("name", ENTRY_POINTS)
async def test_a_503_hands_back_the_key_that_makes_the_retry_the_same_ticket(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    post, _, ok = ENTRY_POINTS[name]
    async with gateway(settings()) as (http, broker, _):

        async def refuse(*args: object, **kwargs: object) -> None:
            raise BusUnavailable("no acknowledgement from Kafka within 2.0s")

        monkeypatch.setattr(broker, "append", refuse)
        down = await post(http, {})
        assert down.status_code == 503
        assert down.headers["retry-after"]
        key = down.headers["idempotency-key"]
        assert key in down.text
        monkeypatch.undo()
        first = await post(http, {"Idempotency-Key": key})
        again = await post(http, {"Idempotency-Key": key})
        assert first.status_code == again.status_code == ok
        assert _ticket(first) == _ticket(again)


def test_only_the_service_builds_and_sends_records() -> None:
    # The acceptance rules live in app/submission.py: no entry point builds or publishes a record itself,
    # and no business module speaks HTTP.
    app_dir = Path(__file__).resolve().parents[2] / "app"
    builders = {"build_record", "publish", "publish_many"}
    for path in app_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
        }
        if path.name not in ("submission.py", "intake.py"):
            assert not imported & builders, path
    for business in ("submission.py", "intake.py", "refusals.py"):
        source = (app_dir / business).read_text(encoding="utf-8")
        assert "HTTPException" not in source and "Response" not in source, business


async def test_a_partly_acknowledged_batch_hands_back_a_key_that_keeps_every_ticket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyed = {**WEB, "external_id": "web-keyed-1"}
    keyless = {**WEB, "content": "学院路路灯坏了一个星期。"}
    async with gateway(settings()) as (http, broker, _):
        append = broker.append

        async def refuse_keyless(topic: str, value: bytes, key: bytes | None, headers: Any) -> Any:
            if "路灯".encode() in value:
                raise BusUnavailable("no acknowledgement from Kafka within 2.0s")
            return await append(topic, value, key, headers)

        monkeypatch.setattr(broker, "append", refuse_keyless)
        batch = {"items": [keyed, keyless]}
        first = await _post_batch(http, batch, {})
        assert first.status_code == 207
        chosen = first.headers["idempotency-key"]
        accepted, failed = first.json()["results"]
        assert accepted["status"] == 202 and failed["status"] == 503
        assert failed["problem"]["idempotency_key"] == chosen
        monkeypatch.undo()
        retry = await _post_batch(http, batch, {"Idempotency-Key": chosen})
        again = await _post_batch(http, batch, {"Idempotency-Key": chosen})
    assert retry.status_code == again.status_code == 202
    tickets = [r["ticket_id"] for r in retry.json()["results"]]
    # The accepted item keeps its ticket (its external_id keys it), and the retried one is one ticket.
    assert tickets[0] == accepted["ticket_id"]
    assert tickets == [r["ticket_id"] for r in again.json()["results"]]


async def _post_batch(
    http: httpx.AsyncClient, batch: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return await http.post("/v1/complaints/batch", json=batch, headers={**bearer(WEB_KEY), **headers})
