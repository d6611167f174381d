"""The workers' asyncpg pool."""

from __future__ import annotations

import asyncpg

from ingest.settings import Settings

# Bounds on talking to the database: a connection attempt, and one statement. Neither may hold a batch for
# long; a failure is transient (the batch is retried, not committed).
CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 60.0


def asyncpg_dsn(settings: Settings) -> str:
    """The settings' SQLAlchemy URL as a plain libpq DSN for asyncpg."""
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def open_pool(settings: Settings, size: int = 4) -> asyncpg.Pool:
    """A small pool: a worker runs one transaction at a time, plus reads for dedupe and grouping.

    After a database restart the pool's connections are dead; asyncpg notices on use, the statement fails
    (a transient error), and the next acquire opens a fresh connection, so the pool recovers by itself.
    """
    return await asyncpg.create_pool(
        asyncpg_dsn(settings),
        min_size=1,
        max_size=size,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=COMMAND_TIMEOUT_S,
        max_inactive_connection_lifetime=300,
    )
