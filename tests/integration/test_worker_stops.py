"""A worker stopped by the dead-letter cap is not missed: the gateway's /readyz answers 503 naming the lane
within 10 s, its metric says so, and both recover once a worker started afterwards commits a batch."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx
import pytest

from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessProducer
from ingest.settings import Settings
from ingest.topics import INTAKE
from tests.api_support import wechat_record
from tests.integration.helpers import fetchval, wait_until
from workers.consumer import running_worker
from workers.db import asyncpg_dsn
from workers.errors import DeadLetterFlood

pytestmark = pytest.mark.postgres


async def _poison(producer: InProcessProducer, count: int) -> None:
    # Records only a buggy producer could write (the gateway refuses NUL): the database refuses each.
    for _ in range(count):
        record = wechat_record(f"T-{uuid.uuid4().hex}", "a\x00b").to_bytes()
        await producer.send(INTAKE.name, record, key=b"k", headers=[])


async def _ready(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/readyz")


async def test_a_capped_worker_makes_readyz_503_until_a_new_worker_commits(fresh_database_url: str) -> None:
    settings = Settings(
        kafka_bootstrap_servers="", database_url=fresh_database_url, dlq_max_per_window=2, batch_timeout_ms=50
    )
    broker = in_process_broker(settings)
    producer = InProcessProducer(broker)
    app = create_app(settings, broker=broker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            assert (await _ready(http)).status_code == 200
            await _poison(producer, 3)
            with pytest.raises(DeadLetterFlood):
                async with running_worker(settings, broker) as worker:
                    await asyncio.wait_for(worker.finished(), 60)
            stopped_at = time.monotonic()

            async def unready() -> bool:
                return (await _ready(http)).status_code == 503

            assert await wait_until(unready, timeout_s=10)
            assert time.monotonic() - stopped_at < 10
            answer = await _ready(http)
            problem = answer.json()
            assert problem["checks"] == {"bus": True, "database": True, "workers": False}
            assert [s["lane"] for s in problem["stopped_workers"]] == ["normal"]
            assert "dead letters" in problem["stopped_workers"][0]["reason"]
            assert "normal lane" in problem["detail"]
            assert "jiesu_gateway_workers_stopped 1.0" in (await http.get("/metrics")).text

            # The operator raises the cap and starts a worker: it drains the poison into the dead-letter
            # topic, commits, and the stop is over.
            raised = settings.model_copy(update={"dlq_max_per_window": 100})
            async with running_worker(raised, broker):
                resumed = "SELECT count(*) FROM worker_stops WHERE resumed_at IS NOT NULL"

                async def over() -> bool:
                    return await fetchval(settings, resumed) == 1

                assert await wait_until(over)
            assert (await _ready(http)).status_code == 200
            assert "jiesu_gateway_workers_stopped 0.0" in (await http.get("/metrics")).text


async def test_a_database_not_migrated_yet_is_ready_without_the_workers_check(
    fresh_database_url: str,
) -> None:
    settings = Settings(kafka_bootstrap_servers="", database_url=fresh_database_url)
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        await conn.execute("DROP TABLE worker_stops")  # as before migration 0009
    finally:
        await conn.close()
    app = create_app(settings, broker=in_process_broker(settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            answer = await _ready(http)
    assert answer.status_code == 200
    assert answer.json()["checks"] == {"bus": True, "database": True}
