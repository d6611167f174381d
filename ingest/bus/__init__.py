"""The message bus: Kafka in production, an in-process stand-in for the embedded default and fast tests."""

from ingest.bus.base import BusConsumer, BusMessage, BusProducer, BusUnavailable, CommitLost, Offsets

__all__ = ["BusConsumer", "BusMessage", "BusProducer", "BusUnavailable", "CommitLost", "Offsets"]
