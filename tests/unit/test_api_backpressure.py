"""Backpressure on the running gateway: 503 within the budget, never 202 without an ack, unready."""

import asyncio
import time
from typing import Any

import pytest

from app.producer import GatewayProducer
from ingest.bus import BusUnavailable
from ingest.bus.base import Headers
from ingest.bus.memory import InProcessBroker, InProcessProducer
from tests.api_support import WEB_KEY, accepted_records, bearer, gateway, settings
from tests.unit.test_submission import WEB


async def _bus_ready(http: Any) -> bool:
    # The unit settings' database is unreachable, so /readyz is 503 anyway: look at the bus check.
    checks: dict[str, bool] = (await http.get("/readyz")).json()["checks"]
    return checks["bus"]


async def test_slow_bus_is_503_within_the_budget_and_unready(monkeypatch: pytest.MonkeyPatch) -> None:
    async with gateway(settings(produce_timeout_s=0.3)) as (http, broker, _):
        assert await _bus_ready(http)

        async def stall(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(30)

        monkeypatch.setattr(broker, "append", stall)
        started = time.perf_counter()
        resp = await http.post("/v1/complaints", json=WEB, headers=bearer(WEB_KEY))
        elapsed = time.perf_counter() - started
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "2"
        assert 0.25 < elapsed < 1.0, elapsed
        assert "within 0.3s" in resp.json()["detail"]
        assert not await _bus_ready(http)
        assert accepted_records(broker) == []
        monkeypatch.undo()
        # The next acknowledged send makes it ready again.
        assert (await http.post("/v1/complaints", json=WEB, headers=bearer(WEB_KEY))).status_code == 202
        assert await _bus_ready(http)


async def test_too_many_waiting_for_the_bus_get_503_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    async with gateway(settings(produce_timeout_s=1.0, max_in_flight=3)) as (http, broker, _):

        async def stall(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(30)

        monkeypatch.setattr(broker, "append", stall)

        async def post(i: int) -> tuple[int, float]:
            started = time.perf_counter()
            resp = await http.post(
                "/v1/complaints", json={**WEB, "external_id": f"f{i}"}, headers=bearer(WEB_KEY)
            )
            return resp.status_code, time.perf_counter() - started

        outcomes = await asyncio.gather(*(post(i) for i in range(8)))
        assert all(code == 503 for code, _ in outcomes)
        fast = [t for _, t in outcomes if t < 0.5]
        assert len(fast) == 5, outcomes


class FlakyBus:
    """A producer factory whose producers cannot connect until `up` is set."""

    def __init__(self, broker: InProcessBroker) -> None:
        self.broker = broker
        self.up = False
        self.attempts = 0

    def __call__(self) -> "FlakyProducer":
        return FlakyProducer(self)


class FlakyProducer(InProcessProducer):
    def __init__(self, bus: FlakyBus) -> None:
        super().__init__(bus.broker)
        self.bus = bus

    async def start(self) -> None:
        self.bus.attempts += 1
        if not self.bus.up:
            raise BusUnavailable("Kafka unreachable: connection refused")

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        await super().send(topic, value, key, headers)


async def test_gateway_starts_while_the_bus_is_down_then_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    config = settings()
    broker = InProcessBroker()
    bus = FlakyBus(broker)
    monkeypatch.setattr("app.main.make_producer", lambda *args, **kwargs: bus())
    async with gateway(config, broker) as (http, _, _app):
        assert bus.attempts == 1
        resp = await http.post("/v1/complaints", json=WEB, headers=bearer(WEB_KEY))
        assert resp.status_code == 503
        assert "not connected" in resp.json()["detail"]
        assert not await _bus_ready(http)
        bus.up = True

        async def accepted() -> bool:
            return (await http.post("/v1/complaints", json=WEB, headers=bearer(WEB_KEY))).status_code == 202

        for _ in range(40):
            if await accepted():
                break
            await asyncio.sleep(0.25)
        assert await accepted()
        assert await _bus_ready(http)
        assert bus.attempts >= 2
        assert len(accepted_records(broker)) == 2


async def test_producer_stops_cleanly_while_still_connecting() -> None:
    bus = FlakyBus(InProcessBroker())
    producer = GatewayProducer(bus, budget_s=0.5)
    await producer.start()
    assert not producer.connected
    await asyncio.sleep(0.6)
    await producer.stop()
    assert bus.attempts >= 2
    with pytest.raises(BusUnavailable):
        await producer.send("t", b"v")
