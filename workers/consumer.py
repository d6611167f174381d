"""The intake worker's loop: take a batch, process it fully, then commit its offsets — never before."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from ingest.bus import BusConsumer, BusMessage, CommitLost
from ingest.bus.factory import make_consumer, make_producer
from ingest.bus.memory import InProcessBroker
from ingest.settings import Settings
from ingest.topics import INTAKE, topic_name
from workers.batch import BatchProcessor
from workers.db import open_pool
from workers.dead_letters import DeadLetters
from workers.errors import TransientError
from workers.judging import Classifier
from workers.metrics import LAG, TRANSIENT

log = logging.getLogger("jiesu.worker")


class IntakeWorker:
    """Consumes the intake topic until asked to stop; a stop lets the current batch finish and commit."""

    def __init__(self, settings: Settings, consumer: BusConsumer, processor: BatchProcessor) -> None:
        self._settings = settings
        self._consumer = consumer
        self._processor = processor
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the loop as a background task of the current event loop."""
        self._task = asyncio.create_task(self.run(), name="intake-worker")
        self._task.add_done_callback(_report_crash)

    async def finished(self) -> None:
        """Wait for the loop to end; re-raise what stopped it, if anything did."""
        assert self._task is not None, "start() first"
        await self._task

    def stop(self) -> None:
        """Ask the loop to end after the batch in hand."""
        self._stopping.set()

    async def run(self) -> None:
        """Process batches until stopped."""
        settings = self._settings
        while not self._stopping.is_set():
            batch = await self._consumer.getmany(settings.batch_timeout_ms, settings.batch_max_records)
            if batch:
                await self._process_until_done(batch)
            LAG.set(await self._consumer.lag())

    async def _process_until_done(self, batch: list[BusMessage]) -> None:
        # A transient failure retries the very same batch (held in memory) without committing anything;
        # if the group moves the partitions meanwhile, the commit fails and the new owner reprocesses them,
        # which the idempotent store makes harmless.
        attempt = 0
        while True:
            try:
                offsets = await self._processor.process(batch)
                break
            except TransientError as exc:
                attempt += 1
                TRANSIENT.inc()
                delay = min(self._settings.retry_backoff_s * attempt, 10.0)
                log.warning(
                    "transient failure, retrying the batch", extra={"error": str(exc), "attempt": attempt}
                )
                await asyncio.sleep(delay)
        try:
            await self._consumer.commit(offsets)
        except CommitLost as exc:
            log.warning("offsets not committed; records will be redelivered", extra={"error": str(exc)})
            await self._consumer.seek_to_committed()


def load_classifier() -> Classifier:
    """The judgement library's classifier, loaded once per process."""
    from workers.judgement_adapter import load

    return load()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("intake worker stopped", exc_info=task.exception())


@asynccontextmanager
async def running_worker(
    settings: Settings, broker: InProcessBroker | None = None
) -> AsyncIterator[IntakeWorker]:
    """An intake worker running in the background of the current event loop, stopped on exit."""
    async with AsyncExitStack() as stack:
        producer = make_producer(settings, broker, client_id="jiesu-worker")
        await producer.start()
        stack.push_async_callback(producer.stop)
        pool = await open_pool(settings)
        stack.push_async_callback(pool.close)
        consumer = make_consumer(
            settings, broker, [topic_name(INTAKE, settings.topic_prefix)], settings.consumer_group
        )
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        dead_letters = DeadLetters(
            producer, settings.topic_prefix, settings.dlq_max_per_window, settings.dlq_window_s
        )
        processor = BatchProcessor(pool, producer, load_classifier(), dead_letters, settings.topic_prefix)
        worker = IntakeWorker(settings, consumer, processor)
        worker.start()
        try:
            yield worker
        finally:
            worker.stop()
            await worker.finished()
