"""GatewayProducer.send_many (the batch endpoint's one send): an outcome per record, in-flight cap kept."""

from __future__ import annotations

import asyncio

from app.producer import GatewayProducer
from ingest.bus import BusMessage, BusUnavailable
from ingest.bus.base import Headers
from ingest.bus.memory import InProcessBroker, InProcessProducer


class _Flaky(InProcessBroker):
    """Refuses the records whose value starts with b"bad", slowly takes those starting with b"slow"."""

    async def append(self, topic: str, value: bytes, key: bytes | None, headers: Headers) -> BusMessage:
        if value.startswith(b"bad"):
            raise BusUnavailable("refused")
        if value.startswith(b"slow"):
            await asyncio.sleep(5)
        return await super().append(topic, value, key, headers)


def _records(*values: bytes) -> list[tuple[str, bytes, bytes | None, Headers | None]]:
    return [("t", v, None, None) for v in values]


def test_each_record_gets_its_own_outcome() -> None:
    async def run() -> list[BusUnavailable | None]:
        # The producer keeps its budget itself, as every BusProducer does.
        producer = GatewayProducer(lambda: InProcessProducer(_Flaky(), ack_timeout_s=0.2), budget_s=0.2)
        await producer.start()
        try:
            return await producer.send_many(_records(b"ok1", b"bad", b"slow", b"ok2"))
        finally:
            await producer.stop()

    ok1, bad, slow, ok2 = asyncio.run(run())
    assert ok1 is None and ok2 is None
    assert isinstance(bad, BusUnavailable) and "refused" in str(bad)
    assert isinstance(slow, BusUnavailable) and "within 0.2s" in str(slow)


def test_records_over_the_in_flight_cap_are_refused_at_once() -> None:
    async def run() -> list[BusUnavailable | None]:
        producer = GatewayProducer(
            lambda: InProcessProducer(InProcessBroker()), budget_s=1.0, max_in_flight=2
        )
        await producer.start()
        try:
            return await producer.send_many(_records(b"a", b"b", b"c"))
        finally:
            await producer.stop()

    outcomes = asyncio.run(run())
    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], BusUnavailable) and "already wait" in str(outcomes[2])


def test_not_connected_refuses_every_record() -> None:
    producer = GatewayProducer(lambda: InProcessProducer(InProcessBroker()), budget_s=1.0)
    outcomes = asyncio.run(producer.send_many(_records(b"a", b"b")))
    assert all(isinstance(o, BusUnavailable) for o in outcomes)
