"""The fast lane (app/fastlane.py) answers exactly as the FastAPI route does, and passes on what it should.

Every case is sent to two gateways built alike, one with the fast lane and one without, and the answers are
compared: status, headers, body (random ticket ids and chosen Idempotency-Keys masked), and the records put
on the bus. The lane's own counter says which path answered, so a case cannot silently test the route twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from fastapi import Depends
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import REGISTRY
from starlette.middleware import Middleware

from app.fastlane import LaneOutOfStep, lane_spec
from app.main import create_app
from app.routes import complaints
from app.routes.complaints import accepted
from app.submission import MAX_IDEMPOTENCY_KEY
from app.views import Accepted
from ingest.bus import BusUnavailable
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessBroker
from ingest.settings import Settings
from tests.api_support import (
    PHONE_KEY,
    WEB_KEY,
    WECHAT_KEY,
    accepted_records,
    bearer,
    settings,
    signed_headers,
)
from tests.unit.test_submission import PHONE, WEB, WECHAT

Gateway = tuple[httpx.AsyncClient, InProcessBroker]
_RANDOM_TICKET = re.compile(r"JS[A-Z2-7]{24}")
_HEX_KEY = re.compile(r"[0-9a-f]{32}")


@asynccontextmanager
async def twins(config: Settings) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """(with the fast lane, without it): two gateways on their own in-process brokers."""
    async with AsyncExitStack() as stack:
        pair = []
        for fast in (True, False):
            broker = in_process_broker(config)
            app = create_app(config, broker=broker, fast_lane=fast)
            await stack.enter_async_context(app.router.lifespan_context(app))
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
            await stack.enter_async_context(http)
            pair.append((http, broker))
        yield pair[0], pair[1]


def served() -> float:
    return REGISTRY.get_sample_value("jiesu_gateway_fast_lane_total", {"outcome": "served"}) or 0.0


def passed() -> float:
    return REGISTRY.get_sample_value("jiesu_gateway_fast_lane_total", {"outcome": "passed"}) or 0.0


def answer(resp: httpx.Response, mask: bool = False) -> dict[str, Any]:
    """What must be equal: status, headers, body; with `mask`, random ids and chosen keys are masked."""
    text = resp.text
    headers = dict(resp.headers)
    if mask:
        text = _HEX_KEY.sub("<key>", _RANDOM_TICKET.sub("<ticket>", text))
        headers = {k: _HEX_KEY.sub("<key>", v) for k, v in headers.items()}
        headers.pop("content-length", None)  # the masked parts have fixed lengths, but be safe
    return {"status": resp.status_code, "headers": headers, "body": text}


def bus_records(broker: InProcessBroker) -> list[dict[str, Any]]:
    """The intake records without what differs between any two runs (time of receipt, trace id)."""
    out = []
    for rec in accepted_records(broker):
        value = orjson.loads(rec.value)
        value.pop("received_at")
        value.pop("trace_id")
        headers = [(k, v) for k, v in rec.headers if k != "trace_id"]
        out.append({"key": rec.key, "value": value, "headers": headers})
    return out


async def both(
    pair: tuple[Gateway, Gateway], send: Callable[[httpx.AsyncClient], Any], *, mask: bool = False
) -> dict[str, Any]:
    """Send the same request to both gateways; assert equal answers; the fast gateway's answer."""
    (fast, _), (slow, _) = pair
    ours, theirs = await send(fast), await send(slow)
    assert answer(ours, mask) == answer(theirs, mask)
    return answer(ours)


def post(body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> Callable[..., Any]:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    sent = {"content-type": "application/json", **(headers or {})}

    def send(http: httpx.AsyncClient) -> Any:
        return http.post("/v1/complaints", content=content, headers=sent)

    return send


VALID = [
    (WEB, WEB_KEY, {}),
    (WECHAT, WECHAT_KEY, {}),
    (PHONE, PHONE_KEY, {}),
    ({**WEB, "external_id": None}, WEB_KEY, {"Idempotency-Key": "order-77"}),
    (WEB, WEB_KEY, {"content-type": "application/json; charset=utf-8"}),
    (WEB, WEB_KEY, {"Authorization": f"bearer   {WEB_KEY}  "}),
]


@pytest.mark.parametrize("body, key, extra", VALID, ids=["web", "wechat", "phone", "idem", "charset", "case"])
async def test_valid_submissions_are_served_by_the_lane_with_the_routes_answer(
    body: dict[str, Any], key: str, extra: dict[str, str]
) -> None:
    async with twins(settings()) as pair:
        before = served()
        got = await both(pair, post(body, {**bearer(key), **extra}))
        assert got["status"] == 202
        assert served() == before + 1
        assert bus_records(pair[0][1]) == bus_records(pair[1][1])
        assert len(bus_records(pair[0][1])) == 1


async def test_a_keyless_submission_is_served_too_with_a_random_ticket() -> None:
    async with twins(settings(api_keys="", signing_secrets="")) as pair:
        before = served()
        got = await both(pair, post({**WEB, "external_id": None}), mask=True)
        assert got["status"] == 202
        assert served() == before + 1


REFUSED: list[tuple[str, bytes | dict[str, Any], dict[str, str]]] = [
    ("invalid-field", {**WEB, "citizen": {"phone": "12"}}, bearer(WEB_KEY)),
    ("unknown-channel", {**WEB, "channel": "fax"}, bearer(WEB_KEY)),
    ("not-json", b"{not json", bearer(WEB_KEY)),
    ("empty", b"", bearer(WEB_KEY)),
    ("not-utf8", b'{"channel":"web","content":"\xff"}', bearer(WEB_KEY)),
    ("lone-surrogate", rb'{"channel":"web","external_id":"s1","content":"a\ud800b"}', bearer(WEB_KEY)),
    ("nan", b'{"channel":"wechat","msg_type":"location","location":{"latitude":NaN,"longitude":1}}', {}),
    ("text-plain", WEB, {**bearer(WEB_KEY), "content-type": "text/plain"}),
    ("missing-key", WEB, {}),
    ("unknown-key", WEB, bearer("not-a-key-0123456789abcdef")),
    ("basic-scheme", WEB, {"Authorization": f"Basic {WEB_KEY}"}),
    ("long-idempotency-key", WEB, {**bearer(WEB_KEY), "Idempotency-Key": "k" * 129}),
    ("extra-field", {**WEB, "colour": "red"}, bearer(WEB_KEY)),
]


@pytest.mark.parametrize("body, headers", [(b, h) for _, b, h in REFUSED], ids=[n for n, _, _ in REFUSED])
async def test_refusals_are_passed_to_fastapi_and_answered_alike(
    body: bytes | dict[str, Any], headers: dict[str, str]
) -> None:
    async with twins(settings()) as pair:
        before = served()
        got = await both(pair, post(body, headers))
        assert got["status"] in (401, 422)
        assert got["headers"]["content-type"] == "application/problem+json"
        assert served() == before
        assert bus_records(pair[0][1]) == bus_records(pair[1][1]) == []


async def test_other_json_media_types_are_left_to_fastapi() -> None:
    async with twins(settings()) as pair:
        before = (served(), passed())
        headers = {**bearer(WEB_KEY), "content-type": "application/vnd.x+json"}
        assert (await both(pair, post(WEB, headers)))["status"] == 202
        assert (served(), passed()) == (before[0], before[1] + 1)
        assert bus_records(pair[0][1]) == bus_records(pair[1][1])


async def test_a_body_without_content_type_is_passed_on() -> None:
    async with twins(settings()) as pair:
        before = (served(), passed())

        async def send(http: httpx.AsyncClient) -> Any:
            return await http.post("/v1/complaints", content=orjson.dumps(WEB), headers=bearer(WEB_KEY))

        got = await both(pair, send)
        assert got["status"] == 422
        assert (served(), passed()) == (before[0], before[1] + 1)


async def test_committed_refusals_are_rendered_as_the_route_renders_them() -> None:
    # The lane has committed (valid body, known key) when these fail: 403 channel, 429 rate, 401 signature.
    async with twins(settings(rate_limit_per_s=0.01, rate_limit_burst=1)) as pair:
        before = served()
        wrong_channel = await both(pair, post(WEB, bearer(WECHAT_KEY)))
        assert wrong_channel["status"] == 403
        assert (await both(pair, post(WEB, bearer(WEB_KEY))))["status"] == 202
        limited = await both(pair, post(WEB, bearer(WEB_KEY)))
        assert limited["status"] == 429
        assert limited["headers"]["retry-after"]
        assert served() == before + 3


async def test_signed_requests_verify_once_in_the_lane() -> None:
    async with twins(settings()) as pair:
        body = orjson.dumps(WEB)
        good = signed_headers(body)
        before = served()
        assert (await both(pair, post(body, good)))["status"] == 202
        replayed = await both(pair, post(body, good))
        assert replayed["status"] == 401
        assert "already used" in replayed["body"]
        tampered = await both(pair, post(body + b" ", signed_headers(body)))
        assert tampered["status"] == 401
        stale = await both(pair, post(body, signed_headers(body, stamp=1)))
        assert stale["status"] == 401
        assert served() == before + 4
        assert bus_records(pair[0][1]) == bus_records(pair[1][1])


async def test_body_over_the_limit_is_the_body_limits_413() -> None:
    async with twins(settings(max_body_bytes=2048)) as pair:
        big = {**WEB, "content": "长" * 3000}
        got = await both(pair, post(big, bearer(WEB_KEY)))
        assert got["status"] == 413


async def test_chunked_body_is_left_to_the_framework() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield orjson.dumps(WEB)[:10]
        yield orjson.dumps(WEB)[10:]

    async with twins(settings()) as pair:
        before = served()

        async def send(http: httpx.AsyncClient) -> Any:
            headers = {**bearer(WEB_KEY), "content-type": "application/json"}
            return await http.post("/v1/complaints", content=chunks(), headers=headers)

        assert (await both(pair, send))["status"] == 202
        assert served() == before


@pytest.mark.parametrize("keyed", [True, False], ids=["external-id", "keyless"])
async def test_bus_down_is_the_same_503(keyed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    async with twins(settings()) as pair:

        async def refuse(*args: object, **kwargs: object) -> None:
            raise BusUnavailable("no acknowledgement from Kafka within 2.0s")

        for _, broker in pair:
            monkeypatch.setattr(broker, "append", refuse)
        body = WEB if keyed else {**WEB, "external_id": None}
        got = await both(pair, post(body, bearer(WEB_KEY)), mask=True)
        assert got["status"] == 503
        assert got["headers"]["retry-after"]
        assert ("idempotency-key" in got["headers"]) is not keyed


async def test_the_lane_counts_and_logs_like_the_route(caplog: pytest.LogCaptureFixture) -> None:
    def requests_202() -> float:
        labels = {"method": "POST", "route": "/v1/complaints", "status": "202"}
        return REGISTRY.get_sample_value("jiesu_gateway_requests_total", labels) or 0.0

    async with twins(settings()) as ((fast, _), _):
        before = requests_202()
        with caplog.at_level(logging.INFO, logger="jiesu.gateway.access"):
            resp = await fast.post("/v1/complaints", json=WEB, headers=bearer(WEB_KEY))
        assert requests_202() == before + 1
        [line] = [r for r in caplog.records if r.name == "jiesu.gateway.access"]
        assert getattr(line, "ticket_id", None) == resp.json()["ticket_id"]
        assert getattr(line, "route", None) == "/v1/complaints"


@pytest.mark.parametrize("base", ["", "https://jiesu.example.gov.cn/", 'http://h/路径?q="x"'])
def test_the_202_body_is_what_jsonresponse_wrote(base: str) -> None:
    ticket = "JSMFRGGZDFMZTWQ2LKNBSWY3DP"
    ours = accepted(ticket, base)
    url = f"{base.rstrip('/')}/v1/complaints/{ticket}"
    theirs = JSONResponse(Accepted(ticket_id=ticket, status_url=url).model_dump(), status_code=202)
    assert (ours.body, ours.status_code, ours.raw_headers) == (theirs.body, 202, theirs.raw_headers)


async def test_openapi_is_unchanged_by_the_lane() -> None:
    async with twins(settings()) as ((fast, _), (slow, _)):
        assert (await fast.get("/openapi.json")).json() == (await slow.get("/openapi.json")).json()


def _submit_api_route() -> APIRoute:
    [route] = [
        r for r in complaints.router.routes if isinstance(r, APIRoute) and r.endpoint is complaints.submit
    ]
    return route


def test_the_lane_takes_its_path_and_limits_from_the_route_and_the_body_limit() -> None:
    config = settings(max_body_bytes=4096)
    spec = lane_spec(create_app(config))
    assert spec.path == "/v1/complaints"
    assert spec.max_idempotency_key == MAX_IDEMPOTENCY_KEY
    assert spec.max_body == 4096


async def _extra() -> None:
    """A dependency the lane does not know."""


def test_a_dependency_added_to_the_route_stops_the_gateway_until_the_lane_follows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    route = _submit_api_route()
    monkeypatch.setattr(route, "dependencies", [*route.dependencies, Depends(_extra)])
    app = create_app(settings())
    with pytest.raises(LaneOutOfStep, match="_extra"):
        app.build_middleware_stack()
    # Without the lane nothing is skipped, so nothing is refused.
    create_app(settings(), fast_lane=False).build_middleware_stack()


class _Inner:
    """A middleware that would sit between the lane and the route."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def test_a_middleware_inside_the_lane_stops_the_gateway_one_outside_does_not() -> None:
    app = create_app(settings())
    app.user_middleware.append(Middleware(_Inner))  # innermost: the lane would skip it
    with pytest.raises(LaneOutOfStep, match="_Inner"):
        lane_spec(app)
    outside = create_app(settings())
    outside.add_middleware(_Inner)  # outermost: it wraps the lane too
    assert lane_spec(outside).path == "/v1/complaints"
