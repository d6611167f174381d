"""The reports worker's two loops: the rollup consumer of complaints.events, and the watch that raises alerts,
publishes each closed hour's brief and prunes the ledger.

The consumer commits a batch's offsets only after its transaction committed (workers/rollups/apply.py makes
the redelivery that follows a crash count nothing twice). Both loops retry what the database or the bus
refuses for a while; anything else stops the worker, as in the intake worker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.bus import BusConsumer, BusMessage, BusProducer, BusUnavailable, CommitLost
from ingest.bus.factory import make_consumer, make_producer
from ingest.bus.memory import InProcessBroker
from ingest.db.engine import make_engine
from ingest.reports.brief import BriefOptions
from ingest.reports.hours import HOUR, Hour, hour_of
from ingest.settings import Settings
from ingest.topics import EVENTS, topic_name
from workers.batch import is_transient_db_error, next_offsets
from workers.db import open_pool
from workers.process import close_within
from workers.rollups.apply import apply, decode_batch, prune_ledger
from workers.rollups.detector import AlertRules, detect
from workers.rollups.metrics import COUNTED, LAG, LAST_APPLIED, REPEATS, TRANSIENT
from workers.rollups.publishing import publish_alerts, publish_brief

log = logging.getLogger("jiesu.rollups")

# Larger batches than the intake's: counting is cheap, and fewer transactions touch the shared rollup rows.
MAX_RECORDS = 2000
MAX_RETRY_DELAY_S = 10.0
# A spike that began just before the hour turned is still looked for in the hour before, this long.
LOOK_BACK = timedelta(minutes=5)
PRUNE_EVERY = timedelta(hours=1)
# Measuring the lag is best effort and must never hold up the loop.
LAG_TIMEOUT_S = 1.0


def group_of(settings: Settings) -> str:
    """The reports worker's consumer group on complaints.events."""
    return f"{settings.consumer_group}.rollups"


def is_transient(exc: BaseException) -> bool:
    """A failure of the database or the bus that a later try can get past."""
    if isinstance(exc, BusUnavailable | OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return is_transient_db_error(exc.orig.__cause__ or exc.orig)
    return is_transient_db_error(exc)


class ReportsWorker:
    """Consumes complaints.events into the rollups and watches them, until asked to stop."""

    def __init__(
        self,
        settings: Settings,
        consumer: BusConsumer,
        pool: asyncpg.Pool,
        engine: AsyncEngine,
        producer: BusProducer,
    ) -> None:
        self._settings = settings
        self._consumer = consumer
        self._pool = pool
        self._engine = engine
        self._producer = producer
        self._zone = ZoneInfo(settings.report_timezone)
        self._rules = AlertRules.from_settings(settings)
        self._brief = BriefOptions.from_settings(settings)
        self._stopping = asyncio.Event()
        self._pruned_at: datetime | None = None
        self._settled_hour: datetime | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Run both loops as background tasks."""
        self._tasks = [
            asyncio.create_task(self._consume(), name="rollups-consumer"),
            asyncio.create_task(self._watch(), name="rollups-watch"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._crashed)

    def _crashed(self, task: asyncio.Task[None]) -> None:
        """Say at once that a loop died (in `make run` nobody awaits the worker until shutdown), and stop the
        other loop with it."""
        if task.cancelled() or task.exception() is None:
            return
        log.critical("reports worker stopped", exc_info=task.exception())
        self.stop()

    def stop(self) -> None:
        """Ask both loops to end after what they have in hand."""
        self._stopping.set()

    async def finished(self) -> None:
        """Wait for both loops; if one fails the other is stopped and the error re-raised."""
        done, pending = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = next((t for t in done if t.exception() is not None), None)
        await asyncio.gather(*pending, return_exceptions=True)
        if failed is not None:
            raise failed.exception()  # type: ignore[misc]

    async def _consume(self) -> None:
        while not self._stopping.is_set():
            batch = await self._consumer.getmany(self._settings.batch_timeout_ms, MAX_RECORDS)
            if batch and not await self._retrying(functools.partial(self._apply, batch), "rollup batch"):
                return  # stopped while retrying: left uncommitted, read again by the next owner
            if batch:
                try:
                    await self._consumer.commit(next_offsets(batch))
                except CommitLost as exc:
                    log.warning("rollup offsets not committed; will be read again", extra={"error": str(exc)})
                    await self._consumer.seek_to_committed()
            LAST_APPLIED.set_to_current_time()
            await self._measure_lag()

    async def _measure_lag(self) -> None:
        try:
            async with asyncio.timeout(LAG_TIMEOUT_S):
                LAG.set(await self._consumer.lag())
        except Exception as exc:  # a metric: a slow broker or a partition moving away only skips one reading
            log.debug("rollup lag not measured", extra={"error": repr(exc)})

    async def _apply(self, batch: list[BusMessage]) -> None:
        items = decode_batch(batch)
        async with self._pool.acquire() as conn:
            counted = await apply(conn, items)
        COUNTED.inc(counted)
        REPEATS.inc(len(items) - counted)

    async def _watch(self) -> None:
        while not self._stopping.is_set():
            now = datetime.now(UTC)
            await self._retrying(functools.partial(self.tick, now), "alert detector", once=True)
            await self._stopped_within(self._settings.alert_interval_s)

    async def tick(self, now: datetime) -> None:
        """One look at the rollups: raise new alerts, publish a brief that is due, prune the ledger."""
        current = hour_of(now, self._zone)
        hours = [current]
        if now - current.start < LOOK_BACK:
            hours.append(hour_of(current.start - HOUR, self._zone))
        for hour in hours:
            async with self._engine.connect() as conn:
                found = await detect(conn, hour, self._rules, now)
            for alert in await publish_alerts(
                self._engine, self._producer, found, self._settings.topic_prefix
            ):
                log.warning(
                    "alert raised",
                    extra={"alert_id": alert.alert_id, "kind": alert.kind, "alert": alert.message},
                )
        if self._settings.reports_publish:
            await self._publish_due(now)
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            async with self._pool.acquire() as conn:
                pruned = await prune_ledger(conn, now - timedelta(days=self._settings.rollup_ledger_days))
            self._pruned_at = now
            if pruned:
                log.info("rollup ledger pruned", extra={"rows": pruned})

    async def _publish_due(self, now: datetime) -> None:
        """The brief of the last hour that closed at least `report_publish_delay_s` ago."""
        settled = now - timedelta(seconds=self._settings.report_publish_delay_s)
        closed: Hour = hour_of(hour_of(settled, self._zone).start - HOUR, self._zone)
        if closed.start == self._settled_hour:
            return  # this process already saw it published (by itself or another reports worker)
        if await publish_brief(
            self._engine, self._producer, closed, self._brief, prefix=self._settings.topic_prefix, now=now
        ):
            log.info("hourly brief published", extra={"hour": closed.label})
        self._settled_hour = closed.start

    async def _retrying(self, work: Callable[[], Awaitable[None]], what: str, *, once: bool = False) -> bool:
        """Run `work`, retrying transient failures with a growing pause; False if stopped meanwhile (or,
        with `once`, after the first failure: the caller's next round is the retry)."""
        attempt = 0
        while True:
            try:
                await work()
                return True
            except Exception as exc:
                if not is_transient(exc):
                    raise
                attempt += 1
                TRANSIENT.inc()
                log.warning(
                    f"{what}: transient failure, retrying", extra={"error": repr(exc), "attempt": attempt}
                )
            if once:
                return False
            if await self._stopped_within(min(self._settings.retry_backoff_s * attempt, MAX_RETRY_DELAY_S)):
                return False

    async def _stopped_within(self, delay_s: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), delay_s)
        except TimeoutError:
            return False
        return True


@asynccontextmanager
async def running_reports(
    settings: Settings, broker: InProcessBroker | None = None
) -> AsyncIterator[ReportsWorker]:
    """A reports worker running in the background of the current event loop, stopped on exit."""
    async with AsyncExitStack() as stack:
        producer = make_producer(settings, broker, client_id="jiesu-reports")
        await producer.start()
        stack.push_async_callback(close_within, "the producer", producer.stop)
        pool = await open_pool(settings, size=2)
        stack.push_async_callback(close_within, "the database pool", pool.close)
        engine = make_engine(settings, pool_size=3)
        stack.push_async_callback(close_within, "the database engine", engine.dispose)
        topics = [topic_name(EVENTS, settings.topic_prefix)]
        consumer = make_consumer(settings, broker, topics, group_of(settings))
        await consumer.start()
        stack.push_async_callback(close_within, "the consumer", consumer.stop)
        worker = ReportsWorker(settings, consumer, pool, engine, producer)
        worker.start()
        log.info("reports worker started", extra={"group": group_of(settings), "topics": topics})
        try:
            yield worker
        finally:
            worker.stop()
            await worker.finished()
