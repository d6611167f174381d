"""Build the producer and consumer the settings ask for."""

from __future__ import annotations

from ingest.bus.base import BusConsumer, BusProducer, OnAssigned
from ingest.bus.memory import InProcessBroker, InProcessConsumer, InProcessProducer
from ingest.settings import Settings
from ingest.topics import ALL_TOPICS, topic_name


def in_process_broker(settings: Settings) -> InProcessBroker:
    """A broker with the declared topics' partition counts."""
    return InProcessBroker({topic_name(t, settings.topic_prefix): t.partitions for t in ALL_TOPICS})


def make_producer(settings: Settings, broker: InProcessBroker | None, client_id: str) -> BusProducer:
    """Kafka producer when Kafka is configured, else one on the in-process broker."""
    if settings.embedded_bus:
        assert broker is not None, "the embedded bus needs an in-process broker"
        return InProcessProducer(broker, settings.produce_timeout_s)
    from ingest.bus.kafka import KafkaProducer

    return KafkaProducer(settings.kafka_bootstrap_servers, settings.produce_timeout_s, client_id=client_id)


def make_consumer(
    settings: Settings,
    broker: InProcessBroker | None,
    topics: list[str],
    group: str,
    on_assigned: OnAssigned | None = None,
) -> BusConsumer:
    """Kafka consumer when Kafka is configured, else one on the in-process broker; `on_assigned` is told
    the consumer's partitions each time the group assigns them."""
    if settings.embedded_bus:
        assert broker is not None, "the embedded bus needs an in-process broker"
        return InProcessConsumer(broker, topics, group, on_assigned)
    from ingest.bus.kafka import KafkaConsumer

    return KafkaConsumer(settings.kafka_bootstrap_servers, topics, group, on_assigned=on_assigned)
