"""`POST /v1/complaints/batch` on the running gateway: one result per item, valid items taken regardless."""

import asyncio
import time
from typing import Any

import orjson
import pytest

from app.views import BatchAccepted
from ingest.bus import BusUnavailable
from ingest.bus.memory import InProcessBroker
from tests.api_support import WEB_KEY, accepted_records, bearer, gateway, settings
from tests.unit.test_submission import PHONE, WEB, WECHAT

BATCH = "/v1/complaints/batch"


def _web(i: int, **extra: Any) -> dict[str, Any]:
    return {**WEB, "external_id": f"batch-{i}", **extra}


async def test_mixed_batch_is_207_with_one_result_per_item_in_order() -> None:
    items = [_web(0), _web(1, citizen={"phone": "12"}), WECHAT, _web(3), _web(0), "not an object"]
    async with gateway(settings()) as (http, broker, _):
        resp = await http.post(BATCH, json={"items": items}, headers=bearer(WEB_KEY))
        assert resp.status_code == 207, resp.text
        body = resp.json()
        assert (body["accepted"], body["refused"]) == (3, 3)
        results = body["results"]
        assert [r["index"] for r in results] == list(range(6))
        assert [r["status"] for r in results] == [202, 422, 403, 202, 202, 422]
        assert results[1]["problem"]["errors"][0]["field"] == "items.1.web.citizen.phone"
        assert results[5]["problem"]["errors"][0]["field"] == "items.5"
        assert "channel 'web', not 'wechat'" in results[2]["problem"]["detail"]
        # The duplicated item has the same ticket and is sent once.
        assert results[0]["ticket_id"] == results[4]["ticket_id"] != results[3]["ticket_id"]
        assert results[0]["status_url"] == f"/v1/complaints/{results[0]['ticket_id']}"
        records = accepted_records(broker)
        assert sorted(orjson.loads(r.value)["external_id"] for r in records) == ["batch-0", "batch-3"]


async def test_all_valid_is_202_and_a_retried_batch_keeps_its_ticket_ids() -> None:
    items = [_web(i) for i in range(50)]
    async with gateway(settings(api_keys="", signing_secrets="")) as (http, _, _app):
        first = await http.post(BATCH, json={"items": [*items, PHONE, WECHAT]})
        assert first.status_code == 202, first.text
        again = await http.post(BATCH, json={"items": [*items, PHONE, WECHAT]})
        assert [r["ticket_id"] for r in first.json()["results"]] == [
            r["ticket_id"] for r in again.json()["results"]
        ]
        assert first.json()["accepted"] == 52


async def test_idempotency_key_header_keys_each_item_by_position() -> None:
    items = [{k: v for k, v in _web(i).items() if k != "external_id"} for i in range(3)]
    async with gateway(settings()) as (http, _, _app):
        headers = {**bearer(WEB_KEY), "Idempotency-Key": "upload-77"}
        one = (await http.post(BATCH, json={"items": items}, headers=headers)).json()["results"]
        two = (await http.post(BATCH, json={"items": items}, headers=headers)).json()["results"]
        other = (
            await http.post(BATCH, json={"items": items}, headers={**headers, "Idempotency-Key": "u-78"})
        ).json()
        assert [r["ticket_id"] for r in one] == [r["ticket_id"] for r in two]
        assert len({r["ticket_id"] for r in one}) == 3
        assert not {r["ticket_id"] for r in one} & {r["ticket_id"] for r in other["results"]}


@pytest.mark.parametrize(
    "body",
    [{"items": []}, {"items": [_web(0)] * 501}, {"submissions": [_web(0)]}, [_web(0)], {"items": {"a": 1}}],
    ids=["empty", "501", "wrong-key", "bare-list", "not-a-list"],
)
async def test_malformed_envelope_is_a_whole_422(body: Any) -> None:
    async with gateway(settings()) as (http, broker, _):
        resp = await http.post(BATCH, json=body, headers=bearer(WEB_KEY))
        assert resp.status_code == 422
        assert resp.headers["content-type"] == "application/problem+json"
        assert accepted_records(broker) == []


async def test_items_are_sent_concurrently(monkeypatch: pytest.MonkeyPatch) -> None:
    async with gateway(settings()) as (http, broker, _):
        real = InProcessBroker.append

        async def slow(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0.2)
            return await real(broker, *args, **kwargs)

        monkeypatch.setattr(broker, "append", slow)
        started = time.perf_counter()
        resp = await http.post(BATCH, json={"items": [_web(i) for i in range(100)]}, headers=bearer(WEB_KEY))
        elapsed = time.perf_counter() - started
        assert resp.status_code == 202
        assert elapsed < 2, f"100 items of 0.2 s each took {elapsed:.1f} s: not sent concurrently"
        assert len(accepted_records(broker)) == 100


async def test_bus_down_for_every_item_is_a_503(monkeypatch: pytest.MonkeyPatch) -> None:
    async with gateway(settings()) as (http, broker, _):

        async def refuse(*args: Any, **kwargs: Any) -> Any:
            raise BusUnavailable("down")

        monkeypatch.setattr(broker, "append", refuse)
        resp = await http.post(BATCH, json={"items": [_web(0), _web(1)]}, headers=bearer(WEB_KEY))
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "2"
        assert resp.headers["content-type"] == "application/problem+json"


async def test_bus_failing_some_items_is_207_with_their_503(monkeypatch: pytest.MonkeyPatch) -> None:
    async with gateway(settings()) as (http, broker, _):
        real = InProcessBroker.append

        async def flaky(topic: str, value: bytes, key: bytes | None, headers: Any) -> Any:
            if orjson.loads(value)["external_id"] == "batch-1":
                raise BusUnavailable("partition leader moved")
            return await real(broker, topic, value, key, headers)

        monkeypatch.setattr(broker, "append", flaky)
        resp = await http.post(BATCH, json={"items": [_web(0), _web(1), _web(2)]}, headers=bearer(WEB_KEY))
        assert resp.status_code == 207
        assert resp.headers["retry-after"] == "2"
        results = resp.json()["results"]
        assert [r["status"] for r in results] == [202, 503, 202]
        assert "ticket_id" not in results[1]
        assert len(accepted_records(broker)) == 2


async def test_the_body_is_exactly_what_the_batchaccepted_model_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The route builds its results as plain dicts; they must be what the declared response model would
    # write, byte for byte (field order, no None fields), for every kind of item result.
    items = [_web(0), _web(1, citizen={"phone": "12"}), WECHAT, "not an object", _web(4)]
    async with gateway(settings()) as (http, broker, _):
        real_append = broker.append

        async def refuse_one(topic: str, value: bytes, *args: Any, **kwargs: Any) -> Any:
            if b'"batch-4"' in value:
                raise BusUnavailable("no acknowledgement from Kafka within 2.0s")
            return await real_append(topic, value, *args, **kwargs)

        monkeypatch.setattr(broker, "append", refuse_one)
        resp = await http.post(BATCH, json={"items": items}, headers=bearer(WEB_KEY))
        assert resp.status_code == 207, resp.text
        assert [r["status"] for r in resp.json()["results"]] == [202, 422, 403, 422, 503]
        model = BatchAccepted.model_validate(resp.json())
        assert orjson.dumps(model.model_dump(mode="json", exclude_none=True)) == resp.content
