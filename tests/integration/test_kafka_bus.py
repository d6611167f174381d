"""The Kafka bus on the real broker: acknowledged sends, batched reads, commits that survive a restart."""

import uuid

from ingest.bus.kafka import KafkaConsumer, KafkaProducer
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

    consumer = KafkaConsumer(kafka_bootstrap, [topic], group)
    await consumer.start()
    seen = []
    try:
        for _ in range(40):
            seen += await consumer.getmany(timeout_ms=500, max_records=100)
            if len(seen) >= 20:
                break
        assert sorted(m.value for m in seen) == sorted(f"v{i}".encode() for i in range(20))
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
