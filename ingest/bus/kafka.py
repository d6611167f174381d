"""The bus on Apache Kafka through aiokafka: acks=all idempotent producer, manually committed consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, RebalanceInProgressError

from ingest.bus.base import BusMessage, BusUnavailable, CommitLost, Headers, Offsets, OnAssigned, Outgoing
from ingest.bus.batching import Batch, PartitionBatcher

log = logging.getLogger(__name__)

# How long a stopping producer waits for the broker to take the records still pending.
STOP_TIMEOUT_S = 5.0
# After that bound, how long aiokafka's own stop is given to let go of its connections.
ABANDON_CLOSE_S = 0.5
# A few milliseconds of linger lets concurrent requests share one batch and one produce request.
LINGER_MS = 2
MAX_BATCH_BYTES = 256 * 1024
# aiokafka's default; a record bigger than this is refused before it is sent.
MAX_REQUEST_BYTES = 1024 * 1024


class KafkaProducer:
    """Sends records with acks=all and waits for the acknowledgement within a budget.

    Records go through a `PartitionBatcher` (ingest/bus/batching.py): appended to their partition's batch
    without a task, a future or a timeout of their own, one delivery and one deadline per batch.
    """

    def __init__(self, bootstrap_servers: str, ack_timeout_s: float, client_id: str = "jiesu") -> None:
        self._ack_timeout_s = ack_timeout_s
        self._timeout_reason = f"no acknowledgement from Kafka within {ack_timeout_s}s"
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            # The batcher lingers itself; the batches it hands over are closed, so they go at once.
            linger_ms=LINGER_MS,
            max_batch_size=MAX_BATCH_BYTES,
            max_request_size=MAX_REQUEST_BYTES,
            # Bounded so a batch stuck while the broker is down expires instead of waiting forever.
            request_timeout_ms=max(1000, int(ack_timeout_s * 1000)),
            retry_backoff_ms=100,
        )
        self._batcher = PartitionBatcher(
            self._producer,
            ack_timeout_s=ack_timeout_s,
            linger_s=LINGER_MS / 1000,
            max_request_size=MAX_REQUEST_BYTES,
            max_batch_size=MAX_BATCH_BYTES,
        )
        self._ready_checked_at = 0.0
        self._ready = False

    async def start(self) -> None:
        """Connect; raises BusUnavailable when no broker answers."""
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise BusUnavailable(f"Kafka unreachable: {exc}") from exc
        # A topic growing partitions moves keys as Kafka's own producer would move them.
        self._producer.client.cluster.add_listener(lambda _cluster: self._batcher.refresh_partitions())

    async def stop(self) -> None:
        """Flush pending records and disconnect; bounded, so a dead broker cannot hold a shutdown forever.

        aiokafka's stop waits until every pending record is delivered, i.e. forever while the broker is down
        (a SIGTERMed gateway would never exit). Whatever is still pending after the bound was already answered
        for (503 to the submitter; an uncommitted batch for the worker), so it may be dropped.
        """
        bound = max(STOP_TIMEOUT_S, self._ack_timeout_s)
        try:
            async with asyncio.timeout(bound):
                await self._batcher.flush()
                await self._producer.stop()
        except TimeoutError:
            self._batcher.abandon("the Kafka producer stopped before the broker took the record")
            log.warning("Kafka did not take the pending records within %.0fs; stopped without them", bound)
            # aiokafka's stop still waits for its own copy of those records, but it marks the client closed
            # first and lets go of what it can within a moment: without it the process left an open client
            # behind (and "Unclosed AIOKafkaProducer" at exit).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ABANDON_CLOSE_S):
                    await self._producer.stop()

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        """Send and wait for the broker's acknowledgement, at most the ack budget."""
        batcher = self._batcher
        if not batcher.knows(topic):
            await batcher.learn(topic)
        waiter = batcher.append(topic, value, key, headers or []).waiter(asyncio.get_running_loop())
        why = await waiter
        if why is not None:
            raise BusUnavailable(why)

    async def send_many(self, records: Sequence[Outgoing]) -> list[BusUnavailable | None]:
        """Send every record, then wait for all acknowledgements within one ack budget; per record, None
        when acknowledged, else why not.

        Each record waits for its batch; one waiter per batch, however many of the records share it.
        """
        batcher = self._batcher
        loop = asyncio.get_running_loop()
        outcomes: list[BusUnavailable | None] = [None] * len(records)
        placed: list[Batch | None] = [None] * len(records)
        waiters: dict[int, asyncio.Future[str | None]] = {}
        for i, (topic, value, key, headers) in enumerate(records):
            try:
                if not batcher.knows(topic):
                    await batcher.learn(topic)
                batch = batcher.append(topic, value, key, headers or [])
            except BusUnavailable as exc:
                outcomes[i] = exc
                continue
            placed[i] = batch
            if id(batch) not in waiters:
                waiters[id(batch)] = batch.waiter(loop)
        # Every batch settles by its own deadline (within the budget); nothing here needs a timeout.
        for waiter in waiters.values():
            await waiter
        failures: dict[int, BusUnavailable] = {}
        for i, sent in enumerate(placed):
            if sent is None or sent.outcome is None:
                continue
            failure = failures.get(id(sent))
            if failure is None:
                failure = failures[id(sent)] = BusUnavailable(sent.outcome)
            outcomes[i] = failure
        return outcomes

    async def ready(self) -> bool:
        """True when a broker answered a metadata request in the last second."""
        now = time.monotonic()
        if now - self._ready_checked_at > 1.0:
            self._ready_checked_at = now
            try:
                async with asyncio.timeout(self._ack_timeout_s):
                    await self._producer.client.fetch_all_metadata()
                self._ready = True
            except (TimeoutError, KafkaError):
                self._ready = False
        return self._ready


class _AssignmentListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands each new assignment to a callback (a worker logs it); revocations need nothing."""

    def __init__(self, on_assigned: OnAssigned | None) -> None:
        self._on_assigned = on_assigned

    def on_partitions_revoked(self, revoked: object) -> None:
        """Nothing to do: offsets are committed per batch, never on a revocation."""

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Tell the callback the whole new assignment."""
        if self._on_assigned is not None:
            self._on_assigned(sorted((tp.topic, tp.partition) for tp in assigned))


class KafkaConsumer:
    """A member of a consumer group with auto-commit off: offsets move only when the caller commits."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: list[str],
        group: str,
        client_id: str = "jiesu-worker",
        on_assigned: OnAssigned | None = None,
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            # A batch (classify + one transaction + publish) must finish well inside this.
            max_poll_interval_ms=300_000,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
        )
        # Subscribed here rather than in the constructor, to be told of every assignment the group makes.
        self._consumer.subscribe(topics, listener=_AssignmentListener(on_assigned))

    async def start(self) -> None:
        """Join the group (the partitions are assigned afterwards, in the background)."""
        await self._consumer.start()

    async def stop(self) -> None:
        """Leave the group (its partitions go to the remaining members)."""
        await self._consumer.stop()

    async def getmany(self, timeout_ms: int, max_records: int) -> list[BusMessage]:
        """The next batch across all assigned partitions."""
        fetched = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return [
            BusMessage(
                topic=rec.topic,
                partition=rec.partition,
                offset=rec.offset,
                key=rec.key,
                value=rec.value if rec.value is not None else b"",
                headers=list(rec.headers or []),
                timestamp_ms=rec.timestamp,
            )
            for records in fetched.values()
            for rec in records
        ]

    async def commit(self, offsets: Offsets) -> None:
        """Commit per partition; CommitLost when a rebalance took the partitions away meanwhile."""
        try:
            await self._consumer.commit({TopicPartition(t, p): off for (t, p), off in offsets.items()})
        except (CommitFailedError, RebalanceInProgressError, IllegalStateError) as exc:
            raise CommitLost(str(exc)) from exc

    async def seek_to_committed(self) -> None:
        """Rewind the assigned partitions to the committed offsets."""
        for tp in list(self._consumer.assignment()):
            try:
                await self._consumer.seek_to_committed(tp)
            except IllegalStateError:
                # Revoked by a rebalance meanwhile (it happens right after a lost commit): its new owner
                # starts from the committed offset anyway.
                continue

    async def lag(self) -> int:
        """Sum over assigned partitions of high watermark minus position."""
        total = 0
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            try:
                total += max(0, high - await self._consumer.position(tp))
            except IllegalStateError:
                continue
        return total
