"""Limits and errors on the running gateway: 413, 429 + Retry-After, problem+json everywhere, flood flag."""

import json
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import memory
from app.limits import FloodTracker, InvalidBudget
from ingest.bus import BusUnavailable
from ingest.token_buckets import TokenBuckets
from tests.api_support import PHONE_KEY, WEB_KEY, accepted_records, bearer, gateway, settings
from tests.unit.test_submission import PHONE, WEB

PROBLEM = "application/problem+json"


async def test_body_over_the_limit_is_413_before_reading_it() -> None:
    async with gateway(settings(max_body_bytes=2048)) as (http, broker, _):
        big = {**WEB, "content": "路灯坏了" * 400}
        resp = await http.post("/v1/complaints", json=big, headers=bearer(WEB_KEY))
        assert resp.status_code == 413
        assert resp.headers["content-type"] == PROBLEM
        assert "2048 bytes" in resp.json()["detail"]
        assert accepted_records(broker) == []
        assert (await http.post("/v1/complaints", json=WEB, headers=bearer(WEB_KEY))).status_code == 202


async def test_streamed_body_without_length_is_cut_at_the_limit() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"channel": "web", "content": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    async with gateway(settings(max_body_bytes=2048)) as (http, broker, _):
        resp = await http.post(
            "/v1/complaints",
            content=chunks(),
            headers={**bearer(WEB_KEY), "content-type": "application/json"},
        )
        assert resp.status_code == 413
        assert resp.headers["content-type"] == PROBLEM
        assert accepted_records(broker) == []


async def test_batch_has_its_own_larger_limit() -> None:
    async with gateway(settings(max_body_bytes=2048, max_batch_body_bytes=64 * 1024)) as (http, _, _app):
        items = [{**WEB, "external_id": f"lim-{i}"} for i in range(20)]
        assert len(orjson.dumps({"items": items})) > 2048
        resp = await http.post("/v1/complaints/batch", json={"items": items}, headers=bearer(WEB_KEY))
        assert resp.status_code == 202


async def test_rate_limit_is_429_with_retry_after_per_adapter() -> None:
    async with gateway(settings(rate_limit_per_s=0.5, rate_limit_burst=3)) as (http, _, _app):
        codes = [
            (await http.post("/v1/complaints", json={**WEB, "external_id": f"r{i}"}, headers=bearer(WEB_KEY)))
            for i in range(4)
        ]
        assert [r.status_code for r in codes] == [202, 202, 202, 429]
        limited = codes[-1]
        assert limited.headers["content-type"] == PROBLEM
        assert limited.headers["retry-after"] == "2"
        # Another adapter has its own bucket.
        assert (await http.post("/v1/complaints", json=PHONE, headers=bearer(PHONE_KEY))).status_code == 202


async def test_a_batch_costs_one_token_per_item() -> None:
    async with gateway(settings(rate_limit_per_s=1, rate_limit_burst=5)) as (http, _, _app):
        for i in range(2):
            one = {**WEB, "external_id": f"s{i}"}
            single = await http.post("/v1/complaints", json=one, headers=bearer(WEB_KEY))
            assert single.status_code == 202
        # Three tokens left: a batch of four is refused, one of three is taken.
        items = [{**WEB, "external_id": f"b{i}"} for i in range(4)]
        resp = await http.post("/v1/complaints/batch", json={"items": items}, headers=bearer(WEB_KEY))
        assert resp.status_code == 429
        assert int(resp.headers["retry-after"]) >= 1
        resp = await http.post("/v1/complaints/batch", json={"items": items[:3]}, headers=bearer(WEB_KEY))
        assert resp.status_code == 202


def test_token_bucket_refills_and_says_how_long_to_wait() -> None:
    buckets = TokenBuckets(rate=2, burst=2)
    assert buckets.take("a", now=0) == 0
    assert buckets.take("a", now=0) == 0
    assert buckets.take("a", now=0) == pytest.approx(0.5)
    assert buckets.take("a", now=0.5) == 0
    assert TokenBuckets(rate=0, burst=1).take("a", cost=100) == 0


async def test_citizen_flood_is_flagged_not_dropped() -> None:
    async with gateway(settings(flood_threshold=3)) as (http, broker, _):
        for i in range(5):
            body = {**WEB, "external_id": f"flood-{i}"}
            resp = await http.post("/v1/complaints", json=body, headers=bearer(WEB_KEY))
            assert resp.status_code == 202
            # A retry of the same submission does not count as one more.
            assert (await http.post("/v1/complaints", json=body, headers=bearer(WEB_KEY))).status_code == 202
        other = await http.post(
            "/v1/complaints",
            json={**WEB, "external_id": "calm", "citizen": {"phone": "13700137000"}},
            headers=bearer(WEB_KEY),
        )
        assert other.status_code == 202
        records = accepted_records(broker)
        assert len(records) == 11
        values = [orjson.loads(r.value) for r in records]
        flagged = [v["external_id"] for v in values if any("flooding" in x for x in v["review_reasons"])]
        assert sorted(set(flagged)) == ["flood-3", "flood-4"]
        headers = [dict(r.headers) for r in records if orjson.loads(r.value)["external_id"] == "flood-4"]
        assert all(h.get("needs_review") == b"1" for h in headers)


def test_flood_tracker_window_and_bound() -> None:
    tracker = FloodTracker(threshold=2, window_s=10, max_citizens=2)
    assert [tracker.observe("c", f"t{i}", now=i) for i in range(4)] == [1, 2, 3, 3]
    assert tracker.observe("c", "t9", now=100) == 1
    assert tracker.observe(None, "t", now=0) == 0
    tracker.observe("d", "x", now=0)
    tracker.observe("e", "x", now=0)
    assert len(tracker._recent) == 2


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/nowhere", {}, 404),
        ("delete", "/v1/complaints", {}, 405),
        ("post", "/v1/complaints", {"json": {**WEB, "citizen": {"phone": "12"}}}, 422),
        (
            "post",
            "/v1/complaints",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
        ),
        ("post", "/v1/complaints", {"json": {**WEB, "channel": "\ud800"}}, 422),
        (
            "post",
            "/v1/complaints",
            {"content": b'{"x": "\xff"}', "headers": {"content-type": "application/json"}},
            422,
        ),
        ("post", "/v1/complaints", {"json": WEB, "auth": False}, 401),
        ("post", "/v1/complaints/batch", {"json": {"items": []}}, 422),
        ("get", "/v1/complaints/nonsense", {}, 404),
    ],
)
async def test_every_error_is_a_problem(method: str, path: str, kwargs: dict[str, Any], status: int) -> None:
    headers = {} if kwargs.pop("auth", True) is False else bearer(WEB_KEY)
    headers.update(kwargs.pop("headers", {}))
    if "json" in kwargs:
        kwargs = {"content": _json(kwargs["json"])}
        headers["content-type"] = "application/json"
    async with gateway(settings()) as (http, _, _app):
        resp = await http.request(method.upper(), path, headers=headers, **kwargs)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    body = resp.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"] == "about:blank"
    if status == 422:
        assert body["errors"] and all(e["field"] for e in body["errors"])


async def test_503_is_a_problem_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    async with gateway(settings()) as (http, broker, _):

        async def refuse(*args: object, **kwargs: object) -> None:
            raise BusUnavailable("down")

        monkeypatch.setattr(broker, "append", refuse)
        resp = await http.post("/v1/complaints", json=WEB, headers=bearer(WEB_KEY))
        assert resp.status_code == 503
        assert resp.headers["content-type"] == PROBLEM
        assert resp.headers["retry-after"] == "2"


async def test_lone_surrogates_are_a_422_naming_the_fields_not_a_crash() -> None:
    # JSON can carry "\ud800"; no UTF-8 encoder downstream (Kafka, Postgres) can, so it is refused up front.
    async with gateway(settings()) as (http, broker, _):
        body = {**WEB, "content": "路灯\ud800坏了", "form_fields": {"a": "b\ud800"}}
        resp = await http.post(
            "/v1/complaints",
            content=_json(body),
            headers={**bearer(WEB_KEY), "content-type": "application/json"},
        )
        assert resp.status_code == 422, resp.text
        assert {e["field"] for e in resp.json()["errors"]} == {"web.content", "web.form_fields.a"}
        assert accepted_records(broker) == []


def _json(body: dict[str, Any]) -> bytes:
    # ensure_ascii writes lone surrogates as \udXXX escapes, as a client in any language can.
    return json.dumps(body, ensure_ascii=True).encode()


class _DequeFloodTracker:
    """FloodTracker.observe as first written (a deque of (time, ticket) per citizen): behaviour to keep."""

    def __init__(self, threshold: int, window_s: float, max_citizens: int) -> None:
        self.threshold, self.window_s, self._max = threshold, window_s, max_citizens
        self._recent: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()

    def observe(self, citizen_key: str | None, ticket_id: str, now: float) -> int:
        if citizen_key is None:
            return 0
        seen = self._recent.get(citizen_key)
        if seen is None:
            seen = self._recent[citizen_key] = deque(maxlen=self.threshold + 1)
            if len(self._recent) > self._max:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(citizen_key)
        while seen and now - seen[0][0] > self.window_s:
            seen.popleft()
        if all(ticket != ticket_id for _, ticket in seen):
            seen.append((now, ticket_id))
        return len(seen)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["tel:1", "tel:2", "wx:3", "tel:4", None]),
            st.sampled_from([f"JS{i}" for i in range(8)]),
            st.floats(min_value=0, max_value=4),
        ),
        max_size=80,
    ),
    st.integers(min_value=1, max_value=4),
)
def test_flood_tracker_counts_as_the_deque_version_did(
    events: list[tuple[str | None, str, float]], threshold: int
) -> None:
    ours = FloodTracker(threshold=threshold, window_s=5, max_citizens=3)
    reference = _DequeFloodTracker(threshold=threshold, window_s=5, max_citizens=3)
    clock = 0.0
    for citizen, ticket, step in events:
        clock += step
        assert ours.observe(citizen, ticket, now=clock) == reference.observe(citizen, ticket, now=clock)


def test_the_invalid_budget_refills_and_forgets_adapters() -> None:
    budget = InvalidBudget(rate=2, burst=3)
    assert budget.wait("a", now=0) == 0
    budget.spend("a", 2, now=0)
    assert budget.wait("a", now=0) == 0  # one invalid submission's worth left
    budget.spend("a", 5, now=0)  # more than the burst: spent up to it
    assert budget.wait("a", now=0) == pytest.approx(0.5)
    assert budget.wait("a", now=0.5) == 0
    assert budget.wait("a", now=10) == 0
    assert "a" not in budget._spent  # refilled: the accepting path is a dictionary miss again


async def test_a_key_flooding_invalid_input_is_throttled_and_others_are_not() -> None:
    async with gateway(settings(invalid_rate_per_s=0.01, invalid_burst=3)) as (http, broker, _):
        # Refused by FastAPI (a bad phone), by the gateway's storable check (a NUL), and as batch items.
        bad_phone = {**WEB, "citizen": {"phone": "12"}}
        nul = {**WEB, "external_id": "nul-1", "citizen": {"email": "a\x00b@example.com"}}
        assert (await http.post("/v1/complaints", json=bad_phone, headers=bearer(WEB_KEY))).status_code == 422
        assert (await http.post("/v1/complaints", json=nul, headers=bearer(WEB_KEY))).status_code == 422
        batch = {"items": [bad_phone, {**WEB, "external_id": "ok-1"}]}
        assert (
            await http.post("/v1/complaints/batch", json=batch, headers=bearer(WEB_KEY))
        ).status_code == 207
        throttled = await http.post("/v1/complaints", json=WEB, headers=bearer(WEB_KEY))
        assert throttled.status_code == 429
        assert "invalid submissions" in throttled.json()["detail"]
        assert int(throttled.headers["retry-after"]) >= 1
        # Another adapter's key is not affected.
        assert (await http.post("/v1/complaints", json=PHONE, headers=bearer(PHONE_KEY))).status_code == 202
        assert len(accepted_records(broker)) == 2


async def test_memory_is_given_back_after_a_large_body_only(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: trims.append)
    async with gateway(settings()) as (http, _, _app):
        small = await http.post("/v1/complaints/batch", json={"items": [WEB]}, headers=bearer(WEB_KEY))
        assert small.status_code == 202 and trims == []
        items = [{**WEB, "external_id": f"big-{i}", "content": "路灯坏了" * 1000} for i in range(100)]
        big = await http.post("/v1/complaints/batch", json={"items": items}, headers=bearer(WEB_KEY))
        assert big.status_code == 202
        assert trims == [0]


async def test_invalid_open311_posts_spend_the_same_budget() -> None:
    form = {
        "api_key": WEB_KEY,
        "service_code": "nope",
        "address_string": "海淀区学院路30号",
        "description": "x",
    }
    async with gateway(settings(invalid_rate_per_s=0.01, invalid_burst=2)) as (http, _, _app):
        for _ in range(2):
            assert (await http.post("/open311/v2/requests.json", data=form)).status_code == 400
        assert (await http.post("/v1/complaints", json=WEB, headers=bearer(WEB_KEY))).status_code == 429
