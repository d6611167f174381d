"""Helpers that place a fault precisely: hold a worker inside its transaction, measure catching up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from tests.chaos.load import OpenLoopLoad
from tests.chaos.reconcile import wait_stored


@asynccontextmanager
async def ticket_keys_locked(dsn: str) -> AsyncIterator[None]:
    """Hold an EXCLUSIVE lock on `ticket_keys` (reads pass, inserts wait) until the block ends.

    A worker that reaches its batch's claim of ticket ids then waits inside its open transaction: killing or
    stopping it at that moment is a fault "mid-batch" for certain, not by luck of timing.
    """
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE ticket_keys IN EXCLUSIVE MODE")
            yield
            # leaving the block commits the empty transaction: the lock is released
    finally:
        await conn.close()


async def wait_blocked(dsn: str, application_name: str, timeout_s: float = 15) -> bool:
    """True once a session of `application_name` waits for a lock (inside its batch's transaction)."""
    deadline = time.monotonic() + timeout_s
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = $1 AND wait_event_type = 'Lock' AND state = 'active'",
                application_name,
            )
            if waiting:
                return True
            await asyncio.sleep(0.05)
        return False
    finally:
        await conn.close()


def catch_up_timer(dsn: str, load: OpenLoopLoad, timeout_s: float = 90) -> asyncio.Task[float | None]:
    """From now, the seconds until every ticket accepted so far is stored (None: not within `timeout_s`).

    This is the recovery time of a fault on the worker side: the pipeline has caught up with what it had
    acknowledged when the fault was healed.
    """
    accepted = [o.expected_ticket_id for o in load.accepted()]
    return asyncio.create_task(wait_stored(dsn, accepted, timeout_s, every_s=0.1))
