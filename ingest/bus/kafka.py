"""The bus on Apache Kafka through aiokafka: acks=all idempotent producer, manually committed consumer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, RebalanceInProgressError

from ingest.bus.base import BusMessage, BusUnavailable, CommitLost, Headers, Offsets

# (topic, value, key, headers) of one record to send.
Outgoing = tuple[str, bytes, bytes | None, Headers | None]

log = logging.getLogger(__name__)

# How long a stopping producer waits for the broker to take the records still pending.
STOP_TIMEOUT_S = 5.0


class KafkaProducer:
    """Sends each record with acks=all and waits for the acknowledgement within a budget."""

    def __init__(self, bootstrap_servers: str, ack_timeout_s: float, client_id: str = "jiesu") -> None:
        self._ack_timeout_s = ack_timeout_s
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            # A few milliseconds of linger lets concurrent requests share one produce request.
            linger_ms=2,
            max_batch_size=256 * 1024,
            # Bounded so a batch stuck while the broker is down expires instead of waiting forever.
            request_timeout_ms=max(1000, int(ack_timeout_s * 1000)),
            retry_backoff_ms=100,
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

    async def stop(self) -> None:
        """Flush pending records and disconnect; bounded, so a dead broker cannot hold a shutdown forever.

        aiokafka's stop waits until every pending record is delivered, i.e. forever while the broker is down
        (a SIGTERMed gateway never exited). Whatever is still pending after the bound was already answered
        for (503 to the submitter; an uncommitted batch for the worker), so it may be dropped.
        """
        try:
            async with asyncio.timeout(max(STOP_TIMEOUT_S, self._ack_timeout_s)):
                await self._producer.stop()
        except TimeoutError:
            log.warning(
                "Kafka did not take the pending records within %.0fs; stopped without them", STOP_TIMEOUT_S
            )

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        """Send and wait for the broker's acknowledgement, at most the ack budget."""
        try:
            async with asyncio.timeout(self._ack_timeout_s):
                delivery = await self._producer.send(topic, value=value, key=key, headers=headers or [])
                await delivery
        except TimeoutError as exc:
            raise BusUnavailable(f"no acknowledgement from Kafka within {self._ack_timeout_s}s") from exc
        except KafkaError as exc:
            raise BusUnavailable(f"Kafka refused the record: {exc}") from exc

    async def send_many(self, records: Sequence[Outgoing]) -> list[BusUnavailable | None]:
        """Send every record, then wait for all acknowledgements within one ack budget; per record, None
        when acknowledged, else why not.

        One budget and no task per record: sending 500 records one `send` each (a task, two timeouts per
        record) cost more than validating them (docs/performance.md).
        """
        outcomes: list[BusUnavailable | None] = [None] * len(records)
        deliveries: list[asyncio.Future[object] | None] = [None] * len(records)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ack_timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                for i, (topic, value, key, headers) in enumerate(records):
                    try:
                        deliveries[i] = await self._producer.send(
                            topic, value=value, key=key, headers=headers or []
                        )
                    except KafkaError as exc:
                        outcomes[i] = BusUnavailable(f"Kafka refused the record: {exc}")
        except TimeoutError:
            pass
        pending = [d for d in deliveries if d is not None]
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
        for i, delivery in enumerate(deliveries):
            if outcomes[i] is not None:
                continue
            if delivery is None or not delivery.done():
                outcomes[i] = BusUnavailable(f"no acknowledgement from Kafka within {self._ack_timeout_s}s")
            elif delivery.cancelled() or delivery.exception() is not None:
                outcomes[i] = BusUnavailable(f"Kafka refused the record: {delivery.exception()!r}")
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


class KafkaConsumer:
    """A member of a consumer group with auto-commit off: offsets move only when the caller commits."""

    def __init__(
        self, bootstrap_servers: str, topics: list[str], group: str, client_id: str = "jiesu-worker"
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics,
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

    async def start(self) -> None:
        """Join the group."""
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
