"""A worker's side of `worker_stops` (ingest/worker_stops.py): recording its stop, and ending a lane's stops
once it has committed a batch after them."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import datetime

import asyncpg

from ingest.worker_stops import MAX_REASON, RECORD_STOP, RESUME_LANE

log = logging.getLogger("jiesu.worker")

# Writing the stop must not keep a stopping worker alive for long when the database is the problem.
WRITE_TIMEOUT_S = 5.0


def worker_name() -> str:
    """This process as the stop record names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class StopRecord:
    """Writes this worker's stop; marks its lanes' earlier stops resumed after its first commit on each."""

    def __init__(self, pool: asyncpg.Pool, started_at: datetime, worker: str | None = None) -> None:
        self._pool = pool
        # The database's clock, as `stopped_at` is: a worker's own clock may be off.
        self._started_at = started_at
        self.worker = worker or worker_name()
        self._resumed: set[str] = set()

    @classmethod
    async def open(cls, pool: asyncpg.Pool, worker: str | None = None) -> StopRecord:
        """A record for a worker starting now (by the database's clock)."""
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            started_at = await pool.fetchval("SELECT now()")
        return cls(pool, started_at, worker)

    async def stopped(self, lane: str, reason: str) -> None:
        """Record that `lane` of this worker stopped; a failure is logged (the worker stops anyway)."""
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self._pool.execute(RECORD_STOP, lane, self.worker, reason[:MAX_REASON])
        except Exception as exc:  # the stop itself must go on; the log line is then the only record
            log.error("worker stop not recorded", extra={"lane": lane, "error": repr(exc)})

    async def committed(self, lane: str) -> None:
        """After a commit on `lane`: its stops from before this worker started are over (once per lane)."""
        if lane in self._resumed:
            return
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                ended = await self._pool.execute(RESUME_LANE, lane, self._started_at)
        except Exception as exc:  # tried again after the next commit
            log.warning("worker stops not marked resumed", extra={"lane": lane, "error": repr(exc)})
            return
        self._resumed.add(lane)
        if ended != "UPDATE 0":
            log.info("processing resumed after a worker stop", extra={"lane": lane, "stops": ended})
