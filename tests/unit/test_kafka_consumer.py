"""The Kafka consumer wrapper survives a rebalance that revokes partitions while it rewinds."""

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from ingest.bus.kafka import KafkaConsumer


class _RevokingConsumer:
    """Stands in for AIOKafkaConsumer: partition 4 was revoked between assignment() and the seek."""

    def __init__(self) -> None:
        self.rewound: list[TopicPartition] = []

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t", 3), TopicPartition("t", 4)}

    async def seek_to_committed(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            if tp.partition == 4:
                raise IllegalStateError(f"No current assignment for partition {tp}")
            self.rewound.append(tp)


async def test_seek_to_committed_skips_partitions_revoked_meanwhile() -> None:
    consumer = KafkaConsumer("127.0.0.1:1", ["t"], "g")
    fake = _RevokingConsumer()
    consumer._consumer = fake
    await consumer.seek_to_committed()
    assert fake.rewound == [TopicPartition("t", 3)]
