"""An in-process bus with Kafka's semantics that matter here: partitions, offsets, group commits."""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ingest.bus.base import BusMessage, BusUnavailable, Headers, Offsets, OnAssigned, Outgoing


@dataclass
class _Topic:
    partitions: list[list[BusMessage]]


@dataclass
class InProcessBroker:
    """Topics held in memory for the life of the process; shared by the producer and the consumers."""

    partitions_per_topic: dict[str, int] = field(default_factory=dict)
    default_partitions: int = 6
    _topics: dict[str, _Topic] = field(default_factory=dict)
    _committed: dict[str, Offsets] = field(default_factory=dict)
    _changed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def topic(self, name: str) -> _Topic:
        """The topic called `name`, created on first use."""
        if name not in self._topics:
            count = self.partitions_per_topic.get(name, self.default_partitions)
            self._topics[name] = _Topic([[] for _ in range(count)])
        return self._topics[name]

    async def append(self, topic: str, value: bytes, key: bytes | None, headers: Headers) -> BusMessage:
        """Append a record to the partition its key hashes to (round robin by size when keyless)."""
        parts = self.topic(topic).partitions
        if key is None:
            index = min(range(len(parts)), key=lambda i: len(parts[i]))
        else:
            index = zlib.crc32(key) % len(parts)
        msg = BusMessage(topic, index, len(parts[index]), key, value, headers, int(time.time() * 1000))
        parts[index].append(msg)
        async with self._condition():
            self._condition().notify_all()
        return msg

    def records(self, topic: str) -> list[BusMessage]:
        """Every record of `topic`, partition by partition (for tests and inspection)."""
        return [m for part in self.topic(topic).partitions for m in part]

    def committed(self, group: str) -> Offsets:
        """The group's committed offsets."""
        return self._committed.setdefault(group, {})

    async def wait_for_data(self, timeout_s: float) -> None:
        """Sleep until something is appended or `timeout_s` passes."""
        cond = self._condition()
        async with cond:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cond.wait(), timeout_s)


class InProcessProducer:
    """Producer on an InProcessBroker: acknowledges once the record is appended, within `ack_timeout_s`
    (None: no bound, for tests that drive the broker directly)."""

    def __init__(self, broker: InProcessBroker, ack_timeout_s: float | None = None) -> None:
        self._broker = broker
        self._ack_timeout_s = ack_timeout_s

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to flush."""

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        """Append and return; BusUnavailable when the append takes longer than the budget."""
        try:
            async with asyncio.timeout(self._ack_timeout_s):
                await self._broker.append(topic, value, key, headers or [])
        except TimeoutError as exc:
            raise BusUnavailable(f"no acknowledgement from the bus within {self._ack_timeout_s}s") from exc

    async def send_many(self, records: Sequence[Outgoing]) -> list[BusUnavailable | None]:
        """`send` each record, concurrently; per record, None when appended, else why not."""
        outcomes = await asyncio.gather(
            *(self.send(topic, value, key, headers) for topic, value, key, headers in records),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, BusUnavailable):
                raise outcome
        return [outcome if isinstance(outcome, BusUnavailable) else None for outcome in outcomes]

    async def ready(self) -> bool:
        """Always ready."""
        return True


class InProcessConsumer:
    """The only member of its group: it owns every partition of its topics."""

    def __init__(
        self,
        broker: InProcessBroker,
        topics: list[str],
        group: str,
        on_assigned: OnAssigned | None = None,
    ) -> None:
        self._broker = broker
        self._topics = topics
        self._group = group
        self._position: Offsets = {}
        self._on_assigned = on_assigned

    async def start(self) -> None:
        """Start from the committed offsets, owning every partition of the topics."""
        await self.seek_to_committed()
        if self._on_assigned is not None:
            self._on_assigned(sorted(self._position))

    async def stop(self) -> None:
        """Nothing to leave."""

    def _pending(self, max_records: int) -> list[BusMessage]:
        batch: list[BusMessage] = []
        for topic in self._topics:
            for index, part in enumerate(self._broker.topic(topic).partitions):
                pos = self._position.get((topic, index), 0)
                take = part[pos : pos + max_records - len(batch)]
                if take:
                    batch.extend(take)
                    self._position[(topic, index)] = pos + len(take)
                if len(batch) >= max_records:
                    return batch
        return batch

    async def getmany(self, timeout_ms: int, max_records: int) -> list[BusMessage]:
        """Up to `max_records` unread records, waiting up to `timeout_ms` for the first."""
        batch = self._pending(max_records)
        if not batch:
            await self._broker.wait_for_data(timeout_ms / 1000)
            batch = self._pending(max_records)
        return batch

    async def commit(self, offsets: Offsets) -> None:
        """Record the group's progress."""
        self._broker.committed(self._group).update(offsets)

    async def seek_to_committed(self) -> None:
        """Rewind to the committed offsets."""
        committed = self._broker.committed(self._group)
        self._position = {
            (topic, index): committed.get((topic, index), 0)
            for topic in self._topics
            for index in range(len(self._broker.topic(topic).partitions))
        }

    async def lag(self) -> int:
        """Records appended but not yet read."""
        return sum(
            len(part) - self._position.get((topic, index), 0)
            for topic in self._topics
            for index, part in enumerate(self._broker.topic(topic).partitions)
        )
