"""The worker's batch limit: small while it keeps up, growing while every fetch comes back full."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from ingest.bus import BusConsumer, BusMessage, Offsets
from ingest.settings import Settings
from workers.batch import BatchProcessor
from workers.batch_size import BatchSizer
from workers.consumer import IntakeWorker


def test_the_limit_doubles_after_full_batches_up_to_the_ceiling() -> None:
    sizer = BatchSizer(500, 2000)
    assert sizer.limit == 500
    sizer.observe(500)
    assert sizer.limit == 1000
    sizer.observe(1000)
    assert sizer.limit == 2000
    sizer.observe(2000)
    assert sizer.limit == 2000


def test_a_short_fetch_halves_the_limit_and_a_nearly_full_one_keeps_it() -> None:
    sizer = BatchSizer(500, 2000)
    sizer.observe(500)
    sizer.observe(1000)
    sizer.observe(1500)  # three quarters full: still behind, a fetch in flight; keep
    assert sizer.limit == 2000
    sizer.observe(10)
    assert sizer.limit == 1000
    sizer.observe(0)
    assert sizer.limit == 500
    sizer.observe(0)
    assert sizer.limit == 500


def test_a_ceiling_below_the_base_keeps_the_base() -> None:
    sizer = BatchSizer(500, 100)
    sizer.observe(500)
    assert sizer.limit == 500
    with pytest.raises(ValueError):
        BatchSizer(0, 10)


class _Backlog:
    """A consumer with `backlog` records waiting; records what limit each fetch asked for."""

    def __init__(self, backlog: int) -> None:
        self.left = backlog
        self.asked: list[int] = []
        self.offset = 0

    async def getmany(self, timeout_ms: int, max_records: int) -> list[BusMessage]:
        self.asked.append(max_records)
        taken = min(self.left, max_records)
        self.left -= taken
        batch = [BusMessage("intake", 0, self.offset + i, None, b"{}") for i in range(taken)]
        self.offset += taken
        if not taken:
            await asyncio.sleep(0)
        return batch

    async def commit(self, offsets: Offsets) -> None:
        return None

    async def lag(self) -> int:
        return self.left


class _Processor:
    def __init__(self, worker: list[IntakeWorker], consumer: _Backlog) -> None:
        self.worker = worker
        self.consumer = consumer

    async def process(self, batch: list[BusMessage]) -> Offsets:
        if self.consumer.left == 0:
            self.worker[0].stop()
        return {("intake", 0): batch[-1].offset + 1}


async def test_the_worker_takes_larger_batches_while_behind_and_smaller_once_caught_up() -> None:
    settings = Settings(batch_max_records=500, batch_max_records_behind=2000, batch_timeout_ms=1)
    consumer = _Backlog(500 + 1000 + 2000 + 2000 + 300)
    holder: list[IntakeWorker] = []
    worker = IntakeWorker(
        settings, cast(BusConsumer, consumer), cast(BatchProcessor, _Processor(holder, consumer))
    )
    holder.append(worker)
    worker.start()
    await asyncio.wait_for(worker.finished(), 5)
    assert consumer.asked[:5] == [500, 1000, 2000, 2000, 2000]
    assert consumer.left == 0
