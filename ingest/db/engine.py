"""The async SQLAlchemy engine over asyncpg."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ingest.settings import Settings


def make_engine(settings: Settings, pool_size: int = 10) -> AsyncEngine:
    """An engine whose pool checks connections before use, so it recovers from a database restart."""
    return create_async_engine(
        settings.database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        # A failed statement's exception (and so the log of a 500) shows the SQL, never its parameters:
        # they are citizens' texts, phone numbers and ticket ids.
        hide_parameters=True,
    )
