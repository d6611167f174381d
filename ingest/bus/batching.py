"""Record batches built per partition with aiokafka's batch API, one delivery and one deadline per batch.

Why: `AIOKafkaProducer.send` runs a lot of Python per record (its pure-Python murmur2 partitioner, partition
lookups, the accumulator, a future per record) and would need an `asyncio.timeout` per record from its caller
(docs/performance.md, "Bus"). Here a record is appended synchronously to the open `BatchBuilder` of its
partition (aiokafka's record builders are C extensions); the batches are handed to the producer with
`send_batch` after a short linger (one timer for all of them) or as soon as one is full; every record's sender
waits for its batch's single delivery, and one timer per batch enforces the acknowledgement budget.

What stays as Kafka's producer does it:
- the partition: murmur2 of the key, positive, modulo the topic's partition count, with Kafka's murmur2
  (ingest/bus/murmur.py, held to aiokafka's own, so Java producers and consumers agree); no key: aiokafka's
  `DefaultPartitioner` (random among the available partitions);
- the order of one partition's records: batches (and the rare record too big to share a batch) are handed to
  the producer one at a time, in the order they were closed;
- acks and idempotence: `send_batch` goes through the producer's accumulator, which assigns the producer id
  and sequence numbers when it drains the batch, as for records sent one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from ingest.bus.base import BusUnavailable, Headers
from ingest.bus.murmur import murmur2

log = logging.getLogger(__name__)

# Citizens' keys repeat (a citizen calls again, a batch carries one estate's neighbours), and a dict hit is
# far cheaper than murmur2 in Python (ingest/bus/murmur.py). Bounded: cleared when full.
HASH_CACHE_SIZE = 65_536

# An outcome: None when the broker acknowledged, else why not.
Outcome = str | None
TopicPartition = tuple[str, int]


class Batch:
    """One partition's records on their way: the builder, then one delivery for all of them."""

    __slots__ = ("builder", "deadline", "outcome", "resolved", "tp", "waiters")

    def __init__(self, tp: TopicPartition, builder: Any, deadline: asyncio.TimerHandle | None) -> None:
        self.tp = tp
        self.builder = builder
        self.deadline = deadline
        self.waiters: list[asyncio.Future[Outcome]] = []
        self.resolved = False
        self.outcome: Outcome = None

    def waiter(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Outcome]:
        """A future of this batch's outcome, the caller's own: cancelling it leaves the others waiting."""
        future: asyncio.Future[Outcome] = loop.create_future()
        if self.resolved:
            future.set_result(self.outcome)
        else:
            self.waiters.append(future)
        return future

    def resolve(self, outcome: Outcome) -> None:
        """Settle every waiter once (the first of acknowledgement, failure and deadline wins)."""
        if self.resolved:
            return
        self.resolved = True
        self.outcome = outcome
        if self.deadline is not None:
            self.deadline.cancel()
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(outcome)
        self.waiters = []


class _Oversized:
    """A record too big to share a batch: handed to the producer alone, in its partition's order."""

    __slots__ = ("batch", "headers", "key", "value")

    def __init__(self, batch: Batch, key: bytes | None, value: bytes, headers: Headers) -> None:
        self.batch = batch
        self.key = key
        self.value = value
        self.headers = headers


class PartitionBatcher:
    """Appends records to per-partition batches and hands them to an `AIOKafkaProducer`."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        ack_timeout_s: float,
        linger_s: float,
        max_request_size: int,
        max_batch_size: int,
    ) -> None:
        self._producer = producer
        self._ack_timeout_s = ack_timeout_s
        self._linger_s = linger_s
        self._max_request_size = max_request_size
        # A record this big may not fit an empty batch; below it the size check is skipped.
        self._big = max_batch_size // 2
        self._timeout_reason = f"no acknowledgement from Kafka within {ack_timeout_s}s"
        self._partitioner = DefaultPartitioner()
        # topic → its partitions sorted by id (Kafka's are 0..N-1, so the index is the partition, as in the
        # Java client's murmur2 % N); re-read on every metadata update (`refresh_partitions`).
        self._partitions: dict[str, list[int]] = {}
        self._hashes: dict[bytes, int] = {}
        self._open: dict[TopicPartition, Batch] = {}
        # Batches to hand to the producer now, in order; their partitions have nothing else in flight.
        self._ready: deque[Batch | _Oversized] = deque()
        # A partition with a batch in flight → what of it waits until that one settles (maybe nothing).
        self._backlog: dict[TopicPartition, deque[Batch | _Oversized]] = {}
        self._linger: asyncio.TimerHandle | None = None
        self._shipper: asyncio.Task[None] | None = None
        self._closed = False
        self._idle: asyncio.Event | None = None  # made by flush, set when nothing is pending

    async def learn(self, topic: str) -> None:
        """Make sure the partitions of `topic` are known (waits for metadata the first time)."""
        if topic not in self._partitions:
            try:
                async with asyncio.timeout(self._ack_timeout_s):
                    await self._producer.partitions_for(topic)
            except (TimeoutError, KafkaError) as exc:
                raise BusUnavailable(f"no partitions known for {topic}: {exc!r}") from exc
            self._refresh(topic)

    def knows(self, topic: str) -> bool:
        """True when `append` can place a record of `topic` without waiting for metadata."""
        return topic in self._partitions

    def _refresh(self, topic: str) -> list[int]:
        current = self._producer.client.cluster.partitions_for_topic(topic)
        if not current:
            raise BusUnavailable(f"no partitions known for {topic}")
        ordered = self._partitions[topic] = sorted(current)
        return ordered

    def partition(self, topic: str, key: bytes | None) -> int:
        """The partition aiokafka's default partitioner would choose for `key`."""
        ordered = self._partitions[topic]
        if key is None:
            cluster = self._producer.client.cluster
            available = list(cluster.available_partitions_for_topic(topic) or ())
            return int(self._partitioner(None, ordered, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= HASH_CACHE_SIZE:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return ordered[hashed % len(ordered)]

    def refresh_partitions(self) -> None:
        """Re-read the partition counts from the cluster metadata (a listener calls it on every update)."""
        for topic in list(self._partitions):
            with contextlib.suppress(BusUnavailable):
                self._refresh(topic)

    def append(self, topic: str, value: bytes, key: bytes | None, headers: Headers) -> Batch:
        """Put the record in its partition's open batch (the topic must be known: `learn`); its batch."""
        if self._closed:
            raise BusUnavailable("the Kafka producer is stopping")
        tp = (topic, self.partition(topic, key))
        batch = self._open.get(tp)
        if batch is None or batch.resolved:
            # A batch still open past its deadline (its partition's previous batch was not acknowledged in
            # time) was answered for already and is never sent: the record starts a new one, with a whole
            # budget.
            batch = self._open_batch(tp)
        if len(value) >= self._big:
            return self._append_big(batch, key, value, headers)
        if batch.builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
            # Full: it goes now (or next, after its partition's batch in flight); the record starts the
            # partition's next batch.
            self._close(batch)
            batch = self._open_batch(tp)
            if batch.builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
                # pragma: no cover - an empty builder takes any first record
                raise BusUnavailable("Kafka batch builder refused a record in an empty batch")
        return batch

    def _append_big(self, batch: Batch, key: bytes | None, value: bytes, headers: Headers) -> Batch:
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
        if size > self._max_request_size:
            raise BusUnavailable(
                f"the record is {size} bytes, more than the {self._max_request_size} bytes a Kafka "
                "request may carry"
            )
        # Alone, after what its partition already holds, so the partition's order is kept.
        tp = batch.tp
        if batch.builder.record_count():
            self._close(batch)
        else:
            self._drop_open(batch)
        alone = Batch(tp, None, None)
        alone.deadline = self._deadline_for(alone)
        self._queue(_Oversized(alone, key, value, headers))
        return alone

    def _deadline_for(self, batch: Batch) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_later(self._ack_timeout_s, batch.resolve, self._timeout_reason)

    def _open_batch(self, tp: TopicPartition) -> Batch:
        batch = Batch(tp, self._producer.create_batch(), None)
        batch.deadline = self._deadline_for(batch)
        self._open[tp] = batch
        if self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(self._linger_s, self._linger_over)
        return batch

    def _drop_open(self, batch: Batch) -> None:
        if self._open.get(batch.tp) is batch:
            del self._open[batch.tp]
        batch.resolve(None)  # empty: nobody waits on it

    def _close(self, batch: Batch) -> None:
        """No more records in `batch`: queue it to be handed to the producer."""
        if self._open.get(batch.tp) is batch:
            del self._open[batch.tp]
        batch.builder.close()
        self._queue(batch)

    def _queue(self, item: Batch | _Oversized) -> None:
        """Hand-off now if the partition has no batch in flight, else after the one in flight settles.

        One batch per partition in the producer at a time: aiokafka's accumulator holds one pending batch
        per partition and makes `send_batch` wait while it is there, which would hold every other
        partition's batches behind it and raise every submission's latency. Meanwhile the partition's
        next records gather in its open batch, so batches grow with the load.
        """
        tp = (item.batch if isinstance(item, _Oversized) else item).tp
        backlog = self._backlog.get(tp)
        if backlog is not None:
            backlog.append(item)
            return
        self._backlog[tp] = deque()  # the partition is now in flight: what follows waits
        self._ready.append(item)
        if self._shipper is None:
            self._shipper = asyncio.get_running_loop().create_task(self._ship(), name="kafka-batches")

    def _linger_over(self) -> None:
        self._linger = None
        for batch in list(self._open.values()):
            if batch.tp not in self._backlog:
                self._close(batch)
            # else it keeps filling until its partition's batch in flight settles (`_settled` sends it).

    def _settled(self, tp: TopicPartition) -> None:
        """The partition's batch in flight was acknowledged or failed: the next one of the partition goes."""
        backlog = self._backlog.pop(tp, None)
        if backlog:
            first = backlog.popleft()
            self._backlog[tp] = backlog
            self._ready.append(first)
            if self._shipper is None:
                self._shipper = asyncio.get_running_loop().create_task(self._ship(), name="kafka-batches")
        elif (batch := self._open.get(tp)) is not None and batch.builder.record_count():
            self._close(batch)
        if self._idle is not None and not self.pending():
            self._idle.set()

    async def _ship(self) -> None:
        """Hand the ready batches to the producer (none waits: its partition has nothing in flight)."""
        try:
            while self._ready:
                await self._hand_off(self._ready.popleft())
        finally:
            self._shipper = None
            if self._ready:  # queued while this task was finishing
                self._shipper = asyncio.get_running_loop().create_task(self._ship(), name="kafka-batches")
            elif self._idle is not None and not self.pending():
                self._idle.set()

    async def _hand_off(self, item: Batch | _Oversized) -> None:
        batch = item.batch if isinstance(item, _Oversized) else item
        tp = batch.tp
        if batch.resolved:
            # Its deadline passed while it waited: its senders were told it was not taken, so it is not sent.
            self._settled(tp)
            return
        try:
            # Bounded by the batch's deadline should the producer wait after all (metadata, a full buffer).
            async with asyncio.timeout_at(batch.deadline.when() if batch.deadline is not None else None):
                if isinstance(item, _Oversized):
                    delivery = await self._producer.send(
                        tp[0], value=item.value, key=item.key, partition=tp[1], headers=item.headers
                    )
                else:
                    delivery = await self._producer.send_batch(batch.builder, tp[0], partition=tp[1])
        except TimeoutError:
            batch.resolve(self._timeout_reason)
            self._settled(tp)
            return
        except KafkaError as exc:
            batch.resolve(f"Kafka refused the batch: {exc!r}")
            self._settled(tp)
            return
        except Exception as exc:  # whatever else the client raises, the senders hear of it
            log.exception("handing a batch to the Kafka producer failed")
            batch.resolve(f"Kafka producer failed: {exc!r}")
            self._settled(tp)
            return
        delivery.add_done_callback(_delivered(batch, self._settled))

    def pending(self) -> bool:
        """True while some batch is open, queued or in flight."""
        return bool(self._open or self._ready or self._backlog or self._shipper is not None)

    async def flush(self) -> None:
        """Close the open batches and wait until every batch was settled (the caller bounds the wait)."""
        self._closed = True
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        self._idle = asyncio.Event()
        for batch in list(self._open.values()):
            self._close(batch)
        while self.pending():
            self._idle.clear()
            await self._idle.wait()

    def abandon(self, reason: str) -> None:
        """Fail whatever was not settled yet (stop gave up waiting)."""
        for batch in list(self._open.values()):
            batch.resolve(reason)
        self._open.clear()
        for item in [*self._ready, *(i for backlog in self._backlog.values() for i in backlog)]:
            (item.batch if isinstance(item, _Oversized) else item).resolve(reason)
        self._ready.clear()
        self._backlog.clear()
        if self._shipper is not None:
            self._shipper.cancel()


def _delivered(
    batch: Batch, settled: Callable[[TopicPartition], None]
) -> Callable[[asyncio.Future[Any]], None]:
    def settle(delivery: asyncio.Future[Any]) -> None:
        if delivery.cancelled():
            batch.resolve("Kafka delivery was cancelled")
        elif (exc := delivery.exception()) is not None:
            batch.resolve(f"Kafka refused the batch: {exc!r}")
        else:
            batch.resolve(None)
        settled(batch.tp)

    return settle
