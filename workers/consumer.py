"""The intake worker's loop: take a batch, process it fully, then commit its offsets — never before.

A stop (SIGTERM) lets the batch in hand finish and commit. A batch that cannot finish — the database or the
bus is down and the worker is retrying it — is abandoned uncommitted on a stop: it is read again by whoever
owns its partitions next, and the idempotent store makes that harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import asyncpg

from ingest.bus import BusConsumer, BusMessage, BusProducer, CommitLost, Offsets
from ingest.bus.factory import make_consumer, make_producer
from ingest.bus.memory import InProcessBroker
from ingest.settings import Settings
from ingest.topics import INTAKE, INTAKE_URGENT, TopicSpec, lane_group, topic_name
from ingest.urgency.lane_budget import LaneBudget
from workers.batch import BatchProcessor
from workers.batch_size import BatchSizer
from workers.db import open_pool
from workers.dead_letters import DeadLetters
from workers.errors import DeadLetterFlood, TransientError
from workers.judgement.judge import Judge
from workers.maintenance import partitions_kept_ahead
from workers.metrics import (
    BATCH_LIMIT,
    COMMITS,
    COMMITS_LOST,
    LAG,
    LAST_PROGRESS,
    RETRYING,
    SENTINEL_LAG,
    TRANSIENT,
    URGENT_LAG,
)
from workers.process import close_within
from workers.sentinel import Sentinel
from workers.stops import StopRecord

log = logging.getLogger("jiesu.worker")

T = TypeVar("T")
_LAG_GAUGES = {"urgent": URGENT_LAG, "sentinel": SENTINEL_LAG}


class Processor(Protocol):
    """What a lane does with a batch: `BatchProcessor` stores it, `Sentinel` screens it."""

    async def process(self, messages: list[BusMessage]) -> Offsets:
        """Process the batch fully; return the offsets to commit. Raises TransientError to be retried."""
        ...


MAX_RETRY_DELAY_S = 10.0
# After a stop, how long a pending commit may still wait for the bus before the batch is left uncommitted.
COMMIT_GRACE_S = 5.0
# Measuring the lag is best effort and must never hold up the loop (aiokafka waits for unknown positions).
LAG_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Lane:
    """One intake topic, its consumer group and how its batches are taken."""

    name: str
    topic: TopicSpec
    group: str
    max_records: int
    max_records_behind: int
    # False for the sentinel, whose batches store nothing: its commits are not the worker's progress (a stuck
    # normal lane must not look alive because the sentinel reads on) and are logged at debug level only.
    stores: bool = True


def normal_lane(settings: Settings) -> Lane:
    """`complaints.intake`: every submission the screen did not find urgent; batches grow while behind."""
    return Lane(
        "normal",
        INTAKE,
        settings.consumer_group,
        settings.batch_max_records,
        settings.batch_max_records_behind,
    )


def urgent_lane(settings: Settings) -> Lane:
    """`complaints.intake.urgent`: its own consumer group, so its records never queue behind the backlog,
    and small batches, so an urgent ticket is stored and published with few others."""
    return Lane(
        "urgent",
        INTAKE_URGENT,
        lane_group(settings.consumer_group, "urgent"),
        settings.urgent_batch_max_records,
        # Behind (a burst got past the screen's budget), larger batches drain the lane sooner.
        settings.urgent_batch_max_records * 10,
    )


def sentinel_lane(settings: Settings) -> Lane:
    """`complaints.intake` again, in a consumer group of its own that reads at the head, whatever the normal
    lane's backlog (workers/sentinel.py)."""
    return Lane(
        "sentinel",
        INTAKE,
        lane_group(settings.consumer_group, "sentinel"),
        settings.batch_max_records,
        settings.batch_max_records_behind,
        stores=False,
    )


class LaneAnnouncer:
    """Logs a lane's start-up line once its consumer has partitions, and each later reassignment.

    The line says what an operator needs to find the lane: its consumer group and topics, the partitions
    assigned, where the process's metrics are, and the versions of the models that judge its tickets.
    """

    def __init__(self, lane: Lane, topics: list[str], metrics_url: str, models: dict[str, str]) -> None:
        self._fields: dict[str, object] = {
            "lane": lane.name,
            "group": lane.group,
            "topics": topics,
            "metrics": metrics_url,
            **models,
        }
        self.assignments = 0

    def __call__(self, partitions: list[tuple[str, int]]) -> None:
        """Log the lane's whole assignment (called by the consumer after each assignment)."""
        self.assignments += 1
        msg = "lane started" if self.assignments == 1 else "lane partitions reassigned"
        assigned = [f"{topic}:{partition}" for topic, partition in partitions]
        log.info(msg, extra={**self._fields, "partitions": assigned})


def metrics_url(settings: Settings) -> str:
    """Where the worker process serves its metrics, or `off`."""
    port = settings.worker_metrics_port
    return f"http://{settings.host}:{port}/metrics" if port else "off (JIESU_WORKER_METRICS_PORT=0)"


def model_versions(judge: Judge) -> dict[str, str]:
    """The versions of the judgement artefact and the urgency model a worker judges with."""
    return {
        "judgement_model": judge.model_version,
        "urgency_model": str(judge.urgency.meta.get("model_version", "unknown")),
        # The fine-tuned encoder that clears the urgency model's false alarms, or why there is none.
        "urgency_encoder": (
            judge.urgency.second.version if judge.urgency.second else "missing (make urgency-encoder)"
        ),
    }


class IntakeWorker:
    """Consumes one intake lane until asked to stop; a stop lets the current batch finish and commit."""

    def __init__(
        self,
        settings: Settings,
        consumer: BusConsumer,
        processor: Processor,
        lane: Lane | None = None,
        stops: StopRecord | None = None,
    ) -> None:
        self._settings = settings
        self._consumer = consumer
        self._processor = processor
        self.lane = lane or normal_lane(settings)
        self._stops = stops
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the loop as a background task of the current event loop."""
        self._task = asyncio.create_task(self.run(), name=f"intake-worker-{self.lane.name}")
        self._task.add_done_callback(_report_crash)

    async def finished(self) -> None:
        """Wait for the loop to end; re-raise what stopped it, if anything did."""
        assert self._task is not None, "start() first"
        await self._task

    def stop(self) -> None:
        """Ask the loop to end after the batch in hand."""
        if not self._stopping.is_set():
            log.info("worker stopping: finishing the batch in hand")
        self._stopping.set()

    async def run(self) -> None:
        """Process batches until stopped; a stop by the dead-letter cap is recorded for /readyz first."""
        try:
            await self._run()
        except DeadLetterFlood as exc:
            if self._stops is not None:
                await self._stops.stopped(self.lane.name, str(exc))
            raise

    async def _run(self) -> None:
        settings, lane = self._settings, self.lane
        sizer = BatchSizer(lane.max_records, lane.max_records_behind)
        while not self._stopping.is_set():
            batch = await self._consumer.getmany(settings.batch_timeout_ms, sizer.limit)
            sizer.observe(len(batch))
            if lane.name == "normal":
                BATCH_LIMIT.set(sizer.limit)
            if batch:
                offsets = await self._process_with_retries(batch)
                if offsets is not None:
                    await self._commit(offsets, batch)
            elif lane.stores:
                LAST_PROGRESS.set_to_current_time()
            await self._measure_lag()
        log.info("worker stopped", extra={"lane": lane.name})

    async def _process_with_retries(self, batch: list[BusMessage]) -> Offsets | None:
        """The batch's offsets once processed; None when stopped while a transient failure persists."""
        # A transient failure retries the very same batch (held in memory) without committing anything;
        # if the group moves the partitions meanwhile, the commit fails and the new owner reprocesses them,
        # which the idempotent store makes harmless.
        attempt = 0
        while True:
            try:
                offsets = await self._processor.process(batch)
            except TransientError as exc:
                attempt += 1
                TRANSIENT.inc()
                RETRYING.set(1)
                delay = min(self._settings.retry_backoff_s * attempt, MAX_RETRY_DELAY_S)
                log.warning(
                    "transient failure, retrying the batch",
                    extra={"error": str(exc), "attempt": attempt, "records": len(batch)},
                )
                if await self._stopped_within(delay):
                    log.warning(
                        "stopped while retrying: the batch is left uncommitted and will be read again",
                        extra={"records": len(batch), "offsets": _offsets_field(_first_offsets(batch))},
                    )
                    RETRYING.set(0)
                    return None
                continue
            if attempt:
                log.info("batch processed after transient failures", extra={"attempts": attempt + 1})
            RETRYING.set(0)
            return offsets

    async def _commit(self, offsets: Offsets, batch: list[BusMessage]) -> None:
        """Commit the processed batch; on a rebalance rewind so the records come again."""
        try:
            committed = await self._unless_stopped(self._consumer.commit(offsets), COMMIT_GRACE_S)
        except CommitLost as exc:
            COMMITS_LOST.inc()
            log.warning("offsets not committed; records will be redelivered", extra={"error": str(exc)})
            await self._consumer.seek_to_committed()
            return
        if not committed:
            log.warning(
                "stopped before the bus took the commit: the batch (already stored) will be read again",
                extra={"offsets": _offsets_field(offsets)},
            )
            return
        if not self.lane.stores:
            log.debug("sentinel batch committed", extra={"records": len(batch)})
            return
        COMMITS.inc()
        LAST_PROGRESS.set_to_current_time()
        if self._stops is not None:
            await self._stops.committed(self.lane.name)
        log.info(
            "batch committed",
            extra={
                "records": len(batch),
                "offsets": _offsets_field(offsets),
                "ticket_ids": _ticket_ids(batch),
            },
        )

    async def _unless_stopped(self, work: Awaitable[T], grace_s: float) -> bool:
        """Await `work`; on a stop first, give it `grace_s` more, then cancel it. True if it finished."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=grace_s)
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return False
            task.result()  # re-raise what the work raised
            return True
        finally:
            stop.cancel()

    async def _stopped_within(self, delay_s: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), delay_s)
        except TimeoutError:
            return False
        return True

    async def _measure_lag(self) -> None:
        try:
            async with asyncio.timeout(LAG_TIMEOUT_S):
                _LAG_GAUGES.get(self.lane.name, LAG).set(await self._consumer.lag())
        except Exception as exc:  # a metric: a partition moving away or a slow broker only skips one reading
            log.debug("consumer lag not measured", extra={"error": repr(exc)})


class LanedWorker:
    """A worker process's lanes (normal and urgent), started, stopped and awaited together."""

    def __init__(self, lanes: list[IntakeWorker]) -> None:
        self.lanes = lanes

    def start(self) -> None:
        """Start every lane."""
        for lane in self.lanes:
            lane.start()

    def stop(self) -> None:
        """Ask every lane to end after the batch in hand."""
        for lane in self.lanes:
            lane.stop()

    async def finished(self) -> None:
        """Wait for every lane to end; if one fails, the others are stopped and its error is re-raised."""
        tasks = [asyncio.ensure_future(lane.finished()) for lane in self.lanes]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = next((t for t in done if t.exception() is not None), None)
        if failed is not None:
            self.stop()
        await asyncio.gather(*pending, return_exceptions=failed is not None)
        if failed is not None:
            raise failed.exception()  # type: ignore[misc]


def _first_offsets(batch: list[BusMessage]) -> Offsets:
    first: Offsets = {}
    for msg in batch:
        key = (msg.topic, msg.partition)
        first[key] = min(first.get(key, msg.offset), msg.offset)
    return first


def _offsets_field(offsets: Offsets) -> dict[str, int]:
    return {f"{topic}:{partition}": offset for (topic, partition), offset in sorted(offsets.items())}


def _ticket_ids(batch: list[BusMessage]) -> list[str]:
    """The ticket ids the gateway put in the records' headers: a ticket can be followed through the logs."""
    ids = []
    for msg in batch:
        value = dict(msg.headers).get("ticket_id")
        if value:
            ids.append(value.decode("utf-8", "replace"))
    return ids


def load_classifier() -> Judge:
    """The judgement library (classifier, urgency, routing, grouping), loaded once per process."""
    return Judge.load()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("intake worker stopped", exc_info=task.exception())


def wanted_lanes(settings: Settings) -> list[Lane]:
    """The lanes this process reads, the urgent lane first: it is the one that must be reading when the first
    record arrives. The sentinel runs where the urgent lane does (it feeds that lane), unless turned off."""
    wanted = settings.worker_lanes.split(",")
    lanes = [urgent_lane(settings)] if "urgent" in wanted else []
    if lanes and settings.urgent_sentinel:
        lanes.append(sentinel_lane(settings))
    if "normal" in wanted:
        lanes.append(normal_lane(settings))
    return lanes


def lane_processor(
    lane: Lane,
    settings: Settings,
    *,
    pool: asyncpg.Pool,
    producer: BusProducer,
    judge: Judge,
    dead_letters: DeadLetters,
) -> Processor:
    """What the lane does with its batches. The urgent lane stores and announces its tickets and passes them
    on to the normal lane, which links them: only the normal lane waits for the incident bucket locks. The
    sentinel copies the normal lane's urgent records onto the urgent lane."""
    prefix = settings.topic_prefix
    if lane.name == "sentinel":
        budget = LaneBudget(settings.urgent_lane_rate, settings.urgent_lane_burst)
        return Sentinel(producer, judge.urgency, budget, topic_name(INTAKE_URGENT, prefix))
    forward_to = topic_name(INTAKE, prefix) if lane.name == "urgent" else None
    return BatchProcessor(
        pool,
        producer,
        judge,
        dead_letters,
        prefix,
        forward_to=forward_to,
        mask_events=not settings.events_personal_data,
    )


@asynccontextmanager
async def running_worker(
    settings: Settings, broker: InProcessBroker | None = None
) -> AsyncIterator[LanedWorker]:
    """An intake worker (both lanes) running in the background of the current event loop, stopped on exit."""
    async with AsyncExitStack() as stack:
        producer = make_producer(settings, broker, client_id="jiesu-worker")
        await producer.start()
        stack.push_async_callback(close_within, "the producer", producer.stop)
        pool = await open_pool(settings)
        stack.push_async_callback(close_within, "the database pool", pool.close)
        # Next months' partitions exist before the first write to them (also re-checked daily).
        await stack.enter_async_context(partitions_kept_ahead(pool, ahead=settings.partitions_ahead))
        dead_letters = DeadLetters(
            producer, settings.topic_prefix, settings.dlq_max_per_window, settings.dlq_window_s
        )
        stops = await StopRecord.open(pool)
        judge = load_classifier()
        models = model_versions(judge)
        lanes: list[IntakeWorker] = []
        for lane in wanted_lanes(settings):
            topics = [topic_name(lane.topic, settings.topic_prefix)]
            announce = LaneAnnouncer(lane, topics, metrics_url(settings), models)
            consumer = make_consumer(settings, broker, topics, lane.group, on_assigned=announce)
            await consumer.start()
            stack.push_async_callback(close_within, f"the {lane.name} lane's consumer", consumer.stop)
            processor = lane_processor(
                lane, settings, pool=pool, producer=producer, judge=judge, dead_letters=dead_letters
            )
            lanes.append(IntakeWorker(settings, consumer, processor, lane, stops))
        worker = LanedWorker(lanes)
        worker.start()
        try:
            yield worker
        finally:
            worker.stop()
            await worker.finished()
