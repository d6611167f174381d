"""The worker judges the next batch while the previous one is stored, and still commits in order."""

from __future__ import annotations

import asyncio
from typing import cast

from ingest.bus import BusConsumer, BusMessage, CommitLost, Offsets
from ingest.settings import Settings
from workers.batch import BatchProcessor, PreparedBatch, next_offsets
from workers.consumer import IntakeWorker


def _batch(first: int, size: int = 3) -> list[BusMessage]:
    return [BusMessage("intake", 0, first + i, None, b"{}") for i in range(size)]


class _Consumer:
    """Serves batches of 3 from a position; a seek goes back to the last committed offset."""

    def __init__(self, total: int, lose_commits: int = 0) -> None:
        self.total = total
        self.position = 0
        self.committed = 0
        self.commits: list[int] = []
        self.seeks = 0
        self.lose_commits = lose_commits

    async def getmany(self, timeout_ms: int, max_records: int) -> list[BusMessage]:
        await asyncio.sleep(0)
        if self.position >= self.total:
            return []
        batch = _batch(self.position, min(3, self.total - self.position))
        self.position += len(batch)
        return batch

    async def commit(self, offsets: Offsets) -> None:
        if self.lose_commits:
            self.lose_commits -= 1
            raise CommitLost("rebalanced")
        self.committed = offsets[("intake", 0)]
        self.commits.append(self.committed)

    async def seek_to_committed(self) -> None:
        self.seeks += 1
        self.position = self.committed

    async def lag(self) -> int:
        return self.total - self.position


class _Processor:
    """Records the order of prepares and finishes; finishing waits until the test lets it go on."""

    def __init__(self, worker: list[IntakeWorker], consumer: _Consumer) -> None:
        self.events: list[str] = []
        self.release = asyncio.Event()
        self.release.set()
        self.worker = worker
        self.consumer = consumer
        self.stop_after_finishing: int | None = None

    async def prepare(self, messages: list[BusMessage]) -> PreparedBatch:
        self.events.append(f"prepare {messages[0].offset}")
        return PreparedBatch(messages, {}, [], [], 0.0)

    async def finish(self, prepared: PreparedBatch) -> Offsets:
        first = prepared.messages[0].offset
        self.events.append(f"finish {first} starts")
        await self.release.wait()
        self.events.append(f"finish {first} ends")
        if (
            first == self.stop_after_finishing
            or next_offsets(prepared.messages)[("intake", 0)] >= self.consumer.total
        ):
            self.worker[0].stop()
        return next_offsets(prepared.messages)


def _worker(consumer: _Consumer) -> tuple[IntakeWorker, _Processor]:
    holder: list[IntakeWorker] = []
    processor = _Processor(holder, consumer)
    settings = Settings(batch_timeout_ms=1)
    worker = IntakeWorker(settings, cast(BusConsumer, consumer), cast(BatchProcessor, processor))
    holder.append(worker)
    return worker, processor


async def test_the_next_batch_is_judged_while_the_previous_one_is_being_stored() -> None:
    consumer = _Consumer(total=9)
    worker, processor = _worker(consumer)
    processor.release.clear()
    worker.start()
    for _ in range(50):
        await asyncio.sleep(0)
    # batch 0 is stuck being stored, and batch 3 was judged meanwhile; nothing is committed yet
    assert processor.events == ["prepare 0", "finish 0 starts", "prepare 3"]
    assert consumer.commits == []
    processor.release.set()
    await asyncio.wait_for(worker.finished(), 5)
    assert consumer.commits == [3, 6, 9]
    assert processor.events.index("finish 0 ends") < processor.events.index("finish 3 starts")


async def test_a_lost_commit_drops_the_batch_judged_meanwhile_and_reads_it_again() -> None:
    consumer = _Consumer(total=6, lose_commits=1)
    worker, processor = _worker(consumer)
    worker.start()
    await asyncio.wait_for(worker.finished(), 5)
    assert consumer.seeks == 1
    # batch 0's commit was lost: batch 3 (judged meanwhile) was not stored; both came again, in order
    assert processor.events[:3] == ["prepare 0", "finish 0 starts", "finish 0 ends"]
    assert "finish 3 starts" not in processor.events[:4]
    assert consumer.commits == [3, 6]


async def test_a_stop_commits_the_batch_being_stored_and_leaves_the_judged_one() -> None:
    consumer = _Consumer(total=30)
    worker, processor = _worker(consumer)
    processor.stop_after_finishing = 3
    worker.start()
    await asyncio.wait_for(worker.finished(), 5)
    assert consumer.commits == [3, 6]
    assert "prepare 6" in processor.events
    assert "finish 6 starts" not in processor.events
