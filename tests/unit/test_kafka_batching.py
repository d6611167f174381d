"""The per-partition batcher of the Kafka producer, against a stand-in for aiokafka's producer (no broker).

The stand-in hands out aiokafka's own `BatchBuilder`s and keeps each batch it is given with a delivery future
the test settles, so sharing, shipping, deadlines and failures are all seen from the outside.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from hypothesis import given
from hypothesis import strategies as st

from ingest.bus.base import BusUnavailable, Outgoing
from ingest.bus.batching import PartitionBatcher
from ingest.bus.kafka import KafkaProducer
from ingest.bus.murmur import murmur2

TOPIC = "intake"
PARTITIONS = 12


class _Cluster:
    def __init__(self, partitions: int) -> None:
        self.partitions = set(range(partitions))

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(self.partitions) if topic == TOPIC else None

    def available_partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions_for_topic(topic)

    def add_listener(self, listener: Any) -> None:
        pass


class _Client:
    def __init__(self, partitions: int) -> None:
        self.cluster = _Cluster(partitions)


class FakeProducer:
    """What the batcher uses of `AIOKafkaProducer`; records every batch handed to it."""

    def __init__(self, partitions: int = PARTITIONS, batch_size: int = 16 * 1024) -> None:
        self.client = _Client(partitions)
        self.batch_size = batch_size
        self.sent: list[tuple[str, int, Any, asyncio.Future[Any]]] = []
        self.singles: list[tuple[str, int, bytes | None, bytes]] = []
        self.refuse: Exception | None = None
        # Acknowledge every batch on the next loop iteration, as a quick broker would.
        self.auto_ack = False

    async def partitions_for(self, topic: str) -> set[int]:
        found = self.client.cluster.partitions_for_topic(topic)
        if found is None:
            raise KafkaConnectionError("unknown topic")
        return found

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        if self.refuse is not None:
            raise self.refuse
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append((topic, partition, batch, delivery))
        if self.auto_ack:
            asyncio.get_running_loop().call_soon(delivery.set_result, None)
        return delivery

    async def send(
        self, topic: str, value: bytes, key: bytes | None, partition: int, headers: Any
    ) -> asyncio.Future[Any]:
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.singles.append((topic, partition, key, value))
        self.sent.append((topic, partition, None, delivery))
        if self.auto_ack:
            asyncio.get_running_loop().call_soon(delivery.set_result, None)
        return delivery

    def deliver_all(self, exc: Exception | None = None) -> None:
        for *_, delivery in self.sent:
            if not delivery.done():
                if exc is None:
                    delivery.set_result(None)
                else:
                    delivery.set_exception(exc)


def _batcher(producer: FakeProducer, ack_timeout_s: float = 2.0, linger_s: float = 0.002) -> PartitionBatcher:
    return PartitionBatcher(
        producer,
        ack_timeout_s=ack_timeout_s,
        linger_s=linger_s,
        max_request_size=1024 * 1024,
        max_batch_size=producer.batch_size,
    )


def _records_of(batch: BatchBuilder) -> list[Any]:
    return list(DefaultRecordBatch(batch._build()))


async def _settled(producer: FakeProducer, batches: int) -> None:
    """Let the loop run until the producer was handed `batches` batches (at most a second)."""
    for _ in range(1000):
        if len(producer.sent) >= batches:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{len(producer.sent)} batches handed over, not {batches}")


@given(st.binary(max_size=80))
def test_murmur2_is_aiokafkas(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


async def test_partition_is_aiokafkas_default_partitioner() -> None:
    rng = random.Random(12345)
    for partitions in (1, 3, 12, 50):
        producer = FakeProducer(partitions)
        batcher = _batcher(producer)
        await batcher.learn(TOPIC)
        ordered = sorted(range(partitions))
        for _ in range(2000):
            key = rng.randbytes(rng.randint(0, 40))
            expected = DefaultPartitioner()(key, ordered, ordered)
            assert batcher.partition(TOPIC, key) == expected
            # Again, from the cache.
            assert batcher.partition(TOPIC, key) == expected


async def test_records_without_a_key_go_to_some_partition() -> None:
    producer = FakeProducer()
    batcher = _batcher(producer)
    await batcher.learn(TOPIC)
    assert {batcher.partition(TOPIC, None) for _ in range(500)} <= set(range(PARTITIONS))


async def test_concurrent_records_of_a_partition_share_one_batch_and_one_delivery() -> None:
    producer = FakeProducer()
    batcher = _batcher(producer)
    await batcher.learn(TOPIC)
    headers = [("trace_id", b"t1"), ("needs_review", b"1")]
    batches = {batcher.append(TOPIC, f"v{i}".encode(), b"citizen-7", headers) for i in range(20)}
    assert len(batches) == 1
    (batch,) = batches
    waiters = [batch.waiter(asyncio.get_running_loop()) for _ in range(20)]
    await _settled(producer, 1)
    topic, partition, builder, _ = producer.sent[0]
    assert (topic, partition) == (TOPIC, batcher.partition(TOPIC, b"citizen-7"))
    records = _records_of(builder)
    assert [r.value for r in records] == [f"v{i}".encode() for i in range(20)]
    assert all(r.key == b"citizen-7" and list(r.headers) == headers for r in records)
    assert not any(w.done() for w in waiters)
    producer.deliver_all()
    assert await asyncio.gather(*waiters) == [None] * 20


async def test_a_full_batch_goes_before_the_linger() -> None:
    producer = FakeProducer(batch_size=4096)
    batcher = _batcher(producer, linger_s=30.0)
    await batcher.learn(TOPIC)
    first = batcher.append(TOPIC, b"x" * 1000, b"k", [])
    for _ in range(10):
        last = batcher.append(TOPIC, b"x" * 1000, b"k", [])
    assert last is not first
    await _settled(producer, 1)
    # The first batch is on its way long before the 30 s linger; the last one still fills.
    assert producer.sent[0][2] is first.builder
    assert batcher.pending()


async def test_one_batch_per_partition_in_flight_the_next_keeps_filling() -> None:
    producer = FakeProducer()
    batcher = _batcher(producer)
    await batcher.learn(TOPIC)
    key, other = (
        b"k",
        next(
            k
            for k in (f"o{i}".encode() for i in range(100))
            if batcher.partition(TOPIC, k) != batcher.partition(TOPIC, b"k")
        ),
    )
    first = batcher.append(TOPIC, b"1", key, [])
    await _settled(producer, 1)
    # The partition's first batch is in flight: its next records gather, another partition's go meanwhile.
    second = batcher.append(TOPIC, b"2", key, [])
    elsewhere = batcher.append(TOPIC, b"x", other, [])
    await _settled(producer, 2)
    await asyncio.sleep(0.01)
    assert [b for _, _, b, _ in producer.sent] == [first.builder, elsewhere.builder]
    assert batcher.append(TOPIC, b"3", key, []) is second
    producer.deliver_all()
    await _settled(producer, 3)
    assert producer.sent[2][2] is second.builder
    assert [r.value for r in _records_of(second.builder)] == [b"2", b"3"]
    assert await first.waiter(asyncio.get_running_loop()) is None


async def test_the_deadline_fails_every_waiter_of_the_batch() -> None:
    producer = FakeProducer()
    batcher = _batcher(producer, ack_timeout_s=0.05)
    await batcher.learn(TOPIC)
    batch = batcher.append(TOPIC, b"a", b"k", [])
    assert batcher.append(TOPIC, b"b", b"k", []) is batch
    loop = asyncio.get_running_loop()
    waiters = [batch.waiter(loop), batch.waiter(loop)]
    started = loop.time()
    outcomes = await asyncio.gather(*waiters)  # never delivered
    assert outcomes == ["no acknowledgement from Kafka within 0.05s"] * 2
    assert loop.time() - started < 0.5


async def test_a_failed_delivery_fails_every_record_with_the_reason() -> None:
    producer = FakeProducer()
    batcher = _batcher(producer)
    await batcher.learn(TOPIC)
    batch = batcher.append(TOPIC, b"a", b"k", [])
    waiter = batch.waiter(asyncio.get_running_loop())
    await _settled(producer, 1)
    producer.deliver_all(KafkaConnectionError("broker went away"))
    why = await waiter
    assert why is not None and "broker went away" in why


async def test_a_batch_the_producer_refuses_fails_its_records() -> None:
    producer = FakeProducer()
    producer.refuse = KafkaConnectionError("no leader")
    batcher = _batcher(producer)
    await batcher.learn(TOPIC)
    why = await batcher.append(TOPIC, b"a", b"k", []).waiter(asyncio.get_running_loop())
    assert why is not None and "no leader" in why


async def test_a_cancelled_sender_leaves_the_others_waiting() -> None:
    producer = FakeProducer()
    batcher = _batcher(producer)
    await batcher.learn(TOPIC)
    batch = batcher.append(TOPIC, b"a", b"k", [])
    loop = asyncio.get_running_loop()
    gone, staying = batch.waiter(loop), batch.waiter(loop)
    gone.cancel()
    await _settled(producer, 1)
    producer.deliver_all()
    assert await staying is None


async def test_stop_flushes_the_open_batches() -> None:
    producer = FakeProducer()
    producer.auto_ack = True
    batcher = _batcher(producer, linger_s=30.0)
    await batcher.learn(TOPIC)
    keys = [f"c{i}".encode() for i in range(40)]
    for key in keys:
        batcher.append(TOPIC, b"v", key, [])
    assert producer.sent == []
    await batcher.flush()
    assert sum(len(_records_of(builder)) for _, _, builder, _ in producer.sent) == len(keys)
    assert {p for _, p, _, _ in producer.sent} == {batcher.partition(TOPIC, k) for k in keys}
    with pytest.raises(BusUnavailable, match="stopping"):
        batcher.append(TOPIC, b"late", b"k", [])


async def test_a_big_record_goes_alone_after_its_partitions_batch() -> None:
    producer = FakeProducer(batch_size=4096)
    producer.auto_ack = True
    batcher = _batcher(producer)
    await batcher.learn(TOPIC)
    small = batcher.append(TOPIC, b"before", b"k", [])
    big = batcher.append(TOPIC, b"x" * 3000, b"k", [])
    after = batcher.append(TOPIC, b"after", b"k", [])
    assert len({id(small), id(big), id(after)}) == 3
    await _settled(producer, 3)
    assert producer.sent[0][2] is small.builder
    assert producer.singles == [(TOPIC, batcher.partition(TOPIC, b"k"), b"k", b"x" * 3000)]
    assert producer.sent[2][2] is after.builder


async def test_a_record_over_the_request_size_is_refused_with_why() -> None:
    producer = FakeProducer()
    batcher = _batcher(producer)
    await batcher.learn(TOPIC)
    with pytest.raises(BusUnavailable, match="more than the 1048576 bytes"):
        batcher.append(TOPIC, b"x" * (2 * 1024 * 1024), b"k", [])


async def test_an_unknown_topic_is_unavailable() -> None:
    batcher = _batcher(FakeProducer())
    with pytest.raises(BusUnavailable, match="no partitions known"):
        await batcher.learn("nowhere")


async def _producer_on(fake: FakeProducer, ack_timeout_s: float) -> KafkaProducer:
    producer = KafkaProducer("127.0.0.1:1", ack_timeout_s=ack_timeout_s)
    await producer._producer.stop()  # never started: the stand-in takes its place
    producer._producer = fake
    producer._batcher = _batcher(fake, ack_timeout_s=ack_timeout_s)
    return producer


async def test_send_many_answers_per_record() -> None:
    fake = FakeProducer()
    producer = await _producer_on(fake, ack_timeout_s=2.0)
    records: list[Outgoing] = [
        (TOPIC, f"v{i}".encode(), f"c{i % 30}".encode(), [("h", b"1")]) for i in range(500)
    ]
    records.append(("nowhere", b"v", b"k", None))
    await producer._batcher.learn(TOPIC)
    answer = asyncio.ensure_future(producer.send_many(records))
    partitions = {producer._batcher.partition(TOPIC, f"c{i}".encode()) for i in range(30)}
    await _settled(fake, len(partitions))
    # 500 records, one batch per partition they fall on.
    assert len(fake.sent) == len(partitions)
    fake.deliver_all()
    outcomes = await answer
    assert outcomes[:500] == [None] * 500
    assert isinstance(outcomes[500], BusUnavailable)


async def test_send_raises_bus_unavailable_past_the_budget() -> None:
    producer = await _producer_on(FakeProducer(), ack_timeout_s=0.05)
    with pytest.raises(BusUnavailable, match=r"within 0\.05s"):
        await producer.send(TOPIC, b"v", key=b"k")


async def test_a_record_never_joins_a_batch_past_its_deadline() -> None:
    producer = FakeProducer()
    producer.auto_ack = True
    batcher = _batcher(producer, ack_timeout_s=0.02, linger_s=30.0)
    await batcher.learn(TOPIC)
    stale = batcher.append(TOPIC, b"a", b"k", [])
    assert await stale.waiter(asyncio.get_running_loop()) is not None  # its deadline passed, never shipped
    fresh = batcher.append(TOPIC, b"b", b"k", [])
    assert fresh is not stale and not fresh.resolved
    await batcher.flush()
    # Only the fresh batch went to the producer; the stale one's sender was already told it was not taken.
    assert [builder for _, _, builder, _ in producer.sent] == [fresh.builder]
