"""The Kafka bus on the real broker: acknowledged sends, batched reads, commits that survive a restart."""

import asyncio
import time
import uuid

import aiokafka.client
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.partitioner import DefaultPartitioner

from ingest.bus.base import BusUnavailable, Outgoing
from ingest.bus.kafka import ABANDON_CLOSE_S, STOP_TIMEOUT_S, KafkaConsumer, KafkaProducer
from ingest.topics import INTAKE, topic_name


async def test_produce_consume_commit_resume(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = topic_name(INTAKE, topic_prefix)
    group = f"g-{uuid.uuid4().hex[:6]}"
    producer = KafkaProducer(kafka_bootstrap, ack_timeout_s=10)
    await producer.start()
    try:
        assert await producer.ready()
        for i in range(20):
            await producer.send(topic, f"v{i}".encode(), key=f"k{i % 5}".encode(), headers=[("h", b"1")])
    finally:
        await producer.stop()

    assigned: list[list[tuple[str, int]]] = []
    consumer = KafkaConsumer(kafka_bootstrap, [topic], group, on_assigned=assigned.append)
    await consumer.start()
    seen = []
    try:
        for _ in range(40):
            seen += await consumer.getmany(timeout_ms=500, max_records=100)
            if len(seen) >= 20:
                break
        assert sorted(m.value for m in seen) == sorted(f"v{i}".encode() for i in range(20))
        # The group's only member was told it holds every partition (what a worker lane logs at start-up).
        assert assigned and assigned[-1] == [(topic, p) for p in range(INTAKE.partitions)]
        assert all(("h", b"1") in m.headers for m in seen)
        # One citizen's records share a partition, so their order is kept.
        assert len({m.partition for m in seen if m.key == b"k1"}) == 1
        offsets: dict[tuple[str, int], int] = {}
        for m in seen:
            offsets[(m.topic, m.partition)] = max(offsets.get((m.topic, m.partition), 0), m.offset + 1)
        await consumer.commit(offsets)
    finally:
        await consumer.stop()

    again = KafkaConsumer(kafka_bootstrap, [topic], group)
    await again.start()
    try:
        assert await again.getmany(timeout_ms=2000, max_records=100) == []
    finally:
        await again.stop()


async def _read_all(bootstrap: str, topic: str, expect: int, timeout_s: float = 30) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"r-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(seen) < expect and time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=500)
            seen.extend(r for records in fetched.values() for r in records)
    finally:
        await consumer.stop()
    return seen


async def test_batched_records_land_on_kafkas_partitions_intact(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = topic_name(INTAKE, topic_prefix)
    producer = KafkaProducer(kafka_bootstrap, ack_timeout_s=10)
    await producer.start()
    try:
        records: list[Outgoing] = [
            (topic, f"value-{i}".encode(), f"citizen-{i % 97}".encode(), [("trace_id", f"t{i}".encode())])
            for i in range(500)
        ]
        assert await producer.send_many(records) == [None] * 500
        # Single sends, concurrent, share batches the same way.
        await asyncio.gather(
            *(producer.send(topic, f"single-{i}".encode(), key=f"citizen-{i}".encode()) for i in range(50))
        )
        partitions = sorted(await producer._producer.partitions_for(topic))
    finally:
        await producer.stop()

    seen = await _read_all(kafka_bootstrap, topic, 550)
    assert len(seen) == 550
    by_value = {r.value: r for r in seen}
    for _, value, key, headers in records:
        got = by_value[value]
        assert got.key == key
        assert list(got.headers) == headers
        # Where Kafka's default partitioner (Java's too: murmur2) puts the key.
        assert got.partition == DefaultPartitioner()(key, partitions, partitions)
    # A citizen's records keep their order on their partition.
    offsets = [by_value[f"value-{i}".encode()].offset for i in range(0, 500, 97)]
    assert offsets == sorted(offsets)
    assert all(by_value[f"single-{i}".encode()].key == f"citizen-{i}".encode() for i in range(50))


async def test_a_broker_gone_mid_run_is_bus_unavailable_within_the_budget(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = topic_name(INTAKE, topic_prefix)
    producer = KafkaProducer(kafka_bootstrap, ack_timeout_s=1.0)
    await producer.start()
    await producer.send(topic, b"before", key=b"k")

    # The broker goes away (without touching the shared one): the client's connections drop, and new ones
    # hang as they do towards a host that no longer answers.
    async def unreachable(*args: object, **kwargs: object) -> None:
        await asyncio.sleep(3)  # longer than the budget; bounded, so no attempt outlives the test by much
        raise ConnectionError("the broker went away")

    monkeypatch.setattr(aiokafka.client, "create_conn", unreachable)
    for conn in list(producer._producer.client._conns.values()):
        conn.close()

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(BusUnavailable, match=r"within 1\.0s"):
        await producer.send(topic, b"during", key=b"k")
    outcomes = await producer.send_many(
        [(topic, f"m{i}".encode(), f"c{i}".encode(), None) for i in range(50)]
    )
    assert all(isinstance(o, BusUnavailable) for o in outcomes)
    assert loop.time() - started < 2 * 1.0 + 0.5  # two budgets, one after the other, never a hang
    stopping = loop.time()
    await producer.stop()
    assert loop.time() - stopping < STOP_TIMEOUT_S + ABANDON_CLOSE_S + 1.0
    # Stopped, not left open: aiokafka's client was told to close (no "Unclosed AIOKafkaProducer").
    assert producer._producer._closed
