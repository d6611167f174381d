"""What the gateway and the workers need from a bus, independent of Kafka."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# (topic, partition) → the next offset to read, i.e. the last processed offset + 1.
Offsets = dict[tuple[str, int], int]
Headers = list[tuple[str, bytes]]
# (topic, value, key, headers) of one record to send.
Outgoing = tuple[str, bytes, bytes | None, Headers | None]
# Called with a consumer's whole assignment, (topic, partition) sorted, each time the group gives it one.
OnAssigned = Callable[[list[tuple[str, int]]], None]


class BusUnavailable(Exception):
    """The bus did not acknowledge in time; the caller must not claim the record was accepted."""


class CommitLost(Exception):
    """Offsets could not be committed (the partitions moved to another worker); the records come again."""


@dataclass(frozen=True)
class BusMessage:
    """One record read from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = field(default_factory=list)
    timestamp_ms: int = 0


class BusProducer(Protocol):
    """Writes records and returns only once the bus has acknowledged them.

    Every producer keeps its acknowledgement budget itself: `send` raises BusUnavailable, and `send_many`
    reports it per record, once the budget it was built with has passed, so callers need no timeout of their
    own (one per send would cost more than the send on the gateway's hot path).
    """

    async def start(self) -> None:
        """Connect."""

    async def stop(self) -> None:
        """Flush what is pending and disconnect."""

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        """Write one record and wait for its acknowledgement; raise BusUnavailable if it cannot be had."""

    async def send_many(self, records: Sequence[Outgoing]) -> list[BusUnavailable | None]:
        """Write every record and wait for their acknowledgements within one budget; per record, None when
        acknowledged, else the BusUnavailable it would have raised alone."""

    async def ready(self) -> bool:
        """True when the bus answers right now."""


class BusConsumer(Protocol):
    """Reads a consumer group's share of topics in batches and commits explicitly."""

    async def start(self) -> None:
        """Join the group."""

    async def stop(self) -> None:
        """Leave the group."""

    async def getmany(self, timeout_ms: int, max_records: int) -> list[BusMessage]:
        """The next batch (possibly empty after `timeout_ms`)."""

    async def commit(self, offsets: Offsets) -> None:
        """Commit `offsets` (next offset to read per partition); raise CommitLost if the group moved on."""

    async def seek_to_committed(self) -> None:
        """Rewind every assigned partition to its committed offset, so an unprocessed batch is read again."""

    async def lag(self) -> int:
        """Records not yet consumed on the assigned partitions (best effort)."""
