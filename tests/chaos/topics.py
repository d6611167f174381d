"""Straight-to-Kafka helpers: write raw records, read a topic back with headers, measure what a group left."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass(frozen=True)
class Record:
    """A record read back: where it was, its key, value and headers."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


async def produce_raw(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    """Write (key, value, headers) records as they are, bypassing the gateway; wait for every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=headers)
            for key, value, headers in records
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def read_all(
    bootstrap: str, topic: str, partitions: int, expect: int, timeout_s: float = 30
) -> list[Record]:
    """Every record of `topic` (of `partitions` partitions) from the start, until `expect` or the timeout."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    out: list[Record] = []
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        deadline = time.monotonic() + timeout_s
        while len(out) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            out.extend(
                Record(r.partition, r.offset, r.key, r.value or b"", {k: v for k, v in r.headers or []})
                for records in batch.values()
                for r in records
            )
    finally:
        await consumer.stop()
    return out


async def undrained(bootstrap: str, topic: str, partitions: int, group: str) -> int:
    """Records of `topic` past the group's committed offsets (what the group has not consumed yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await consumer.stop()
    total = 0
    for tp, end in ends.items():
        done = committed.get(tp)
        total += end - (done.offset if done is not None and done.offset >= 0 else 0)
    return total


async def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    """The group's committed offset per partition (of whatever topics it committed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in committed.items()}
