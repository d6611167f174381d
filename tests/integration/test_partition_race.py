"""Workers racing to create the same month's partition all succeed (the race failed a CI run once)."""

import asyncio
from datetime import date

import asyncpg

from ingest.settings import Settings
from workers.db import asyncpg_dsn
from workers.store import ensure_month


async def test_concurrent_creators_of_one_month_all_succeed(database_url: str) -> None:
    dsn = asyncpg_dsn(Settings(database_url=database_url))
    conns = [await asyncpg.connect(dsn) for _ in range(6)]
    try:
        for round_ in range(5):
            month = date(2011, 1 + round_, 1)
            names = await asyncio.gather(*(ensure_month(c, month) for c in conns))
            assert set(names) == {f"tickets_{month:%Y_%m}"}
    finally:
        for conn in conns:
            await conn.close()
