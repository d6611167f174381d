"""Backpressure on the real Kafka.

The gateway starts while Kafka is unreachable, answers 503 and is unready, then recovers when Kafka comes;
a record Kafka does not acknowledge is a 503 within the budget, never a 202.
"""

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from app.main import create_app
from ingest.settings import Settings
from tests.integration.helpers import read_intake, wait_until
from tests.unit.test_submission import WEB


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def _tcp_proxy(port: int, target: str) -> AsyncIterator[None]:
    """Forward 127.0.0.1:port to target (host:port) while the block runs: Kafka 'comes up' on that port."""
    host, _, target_port = target.rpartition(":")

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, int(target_port))
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


@asynccontextmanager
async def _gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as http:
            yield http


async def test_gateway_starts_while_kafka_is_down_then_recovers(
    kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> None:
    port = _free_port()
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{port}",
        database_url=database_url,
        topic_prefix=topic_prefix,
        produce_timeout_s=1.0,
    )
    started = time.perf_counter()
    async with _gateway(settings) as http:
        assert time.perf_counter() - started < 10, "start-up waited for Kafka"
        body = {**WEB, "external_id": f"down-{uuid.uuid4().hex[:6]}"}
        refused = await http.post("/v1/complaints", json=body)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"bus": False, "database": True, "workers": True}

        async with _tcp_proxy(port, kafka_bootstrap):

            async def is_ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            assert await wait_until(is_ready, timeout_s=30, every_s=0.5), "never recovered"
            accepted = await http.post("/v1/complaints", json=body)
            assert accepted.status_code == 202, accepted.text
    records = await read_intake(kafka_bootstrap, topic_prefix, expect=1)
    assert len(records) == 1


async def test_unacknowledged_record_is_503_within_the_budget_and_unready(
    kafka_bootstrap: str, database_url: str
) -> None:
    # Topics that do not exist (and are not auto-created): Kafka answers, but never acknowledges the record.
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=f"missing-{uuid.uuid4().hex[:6]}.",
        produce_timeout_s=1.0,
    )
    async with _gateway(settings) as http:
        assert (await http.get("/readyz")).status_code == 200
        started = time.perf_counter()
        resp = await http.post("/v1/complaints", json=WEB)
        elapsed = time.perf_counter() - started
        assert resp.status_code == 503, resp.text
        assert resp.headers["retry-after"] == "2"
        assert 0.9 < elapsed < 2.0, elapsed
        assert "ticket_id" not in resp.json()
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["bus"] is False
