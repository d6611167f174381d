"""The workers' asyncpg pool."""

from __future__ import annotations

import asyncpg

from ingest.settings import Settings


def asyncpg_dsn(settings: Settings) -> str:
    """The settings' SQLAlchemy URL as a plain libpq DSN for asyncpg."""
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def open_pool(settings: Settings, size: int = 4) -> asyncpg.Pool:
    """A small pool: a worker runs one transaction at a time, plus reads for dedupe and grouping."""
    return await asyncpg.create_pool(
        asyncpg_dsn(settings),
        min_size=1,
        max_size=size,
        command_timeout=60,
        max_inactive_connection_lifetime=300,
    )
