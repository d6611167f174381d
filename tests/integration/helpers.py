"""Helpers for tests on the real stack: reading topics, waiting for rows, running the pipeline in-process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from app.__main__ import server_options
from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessBroker
from ingest.settings import REPO_ROOT, Settings
from loadtest.config import RunConfig
from loadtest.plan import PlanSpec
from workers.consumer import running_worker
from workers.db import asyncpg_dsn
from workers.lane_headers import FORWARDED_HEADER, RESCREENED_HEADER
from workers.rollups.worker import running_reports

LANE_HEADERS = (FORWARDED_HEADER, RESCREENED_HEADER)


async def read_topic(
    bootstrap: str, topic: str, expect: int, timeout_s: float = 30, *, gateway_only: bool = False
) -> list[tuple[bytes, bytes]]:
    """(key, value) of records on `topic` from the beginning, until `expect` seen or the timeout passes;
    `gateway_only` leaves out the records another lane wrote there (the urgent lane passing its tickets on
    to the normal lane, the sentinel copying the normal lane's urgent records onto the urgent lane)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    out: list[tuple[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(out) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            out.extend(
                (r.key, r.value)
                for recs in batch.values()
                for r in recs
                if not (gateway_only and any(name in LANE_HEADERS for name, _ in r.headers))
            )
    finally:
        await consumer.stop()
    return out


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 30, every_s: float = 0.2
) -> bool:
    """Poll `check` until it is true or the timeout passes; return its last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every_s)
    return await check()


async def fetchval(settings: Settings, sql: str, *args: object) -> object:
    """One value from the test database."""
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


@asynccontextmanager
async def pipeline(
    settings: Settings, broker: InProcessBroker | None = None, *, reports: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """Gateway (in-process ASGI) plus one worker on `settings` (and the reports worker, with `reports`);
    yields an HTTP client of the gateway."""

    @asynccontextmanager
    async def worker() -> AsyncIterator[object]:
        async with running_worker(settings, broker) as running:
            yield running

    @asynccontextmanager
    async def reports_worker() -> AsyncIterator[object]:
        async with running_reports(settings, broker) as running:
            yield running

    companions = [worker, reports_worker] if reports else [worker]
    app: FastAPI = create_app(settings, broker=broker, companions=companions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stack_run_config(
    settings: Settings, port: int, report: Path, spec: PlanSpec, **overrides: Any
) -> RunConfig:
    """The simulator's configuration against `python -m app` on `port` and the stack of `settings`, quiet,
    with its report at `report` (overrides win)."""
    values: dict[str, Any] = {
        "spec": spec,
        "target": f"http://127.0.0.1:{port}",
        "run_id": f"it{uuid.uuid4().hex[:8]}",
        "report": report,
        "timeout_s": 10,
        "kafka": settings.kafka_bootstrap_servers,
        "topic_prefix": settings.topic_prefix,
        "database_url": settings.database_url,
        "consumer_group": settings.consumer_group,
        "ready_timeout_s": 60,
        "progress": False,
    }
    return RunConfig(**{**values, **overrides})


@contextmanager
def pipeline_processes(
    settings: Settings,
    port: int,
    workers: int,
    *,
    reports: bool = False,
    extra_env: dict[str, str] | None = None,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`python -m app` on `port` and `workers` × `python -m workers` on `settings` (and, with `reports`, the
    reports worker `python -m workers.rollups`); SIGTERM on exit."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": settings.database_url,
        "JIESU_TOPIC_PREFIX": settings.topic_prefix,
        "JIESU_CONSUMER_GROUP": settings.consumer_group,
        "JIESU_BATCH_TIMEOUT_MS": str(settings.batch_timeout_ms),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "JIESU_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    procs = [subprocess.Popen([sys.executable, "-m", "app"], env=env, cwd=REPO_ROOT)]
    if reports:
        procs.append(subprocess.Popen([sys.executable, "-m", "workers.rollups"], env=env, cwd=REPO_ROOT))
    procs += [
        subprocess.Popen([sys.executable, "-m", "workers"], env=env, cwd=REPO_ROOT) for _ in range(workers)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


async def read_intake(
    bootstrap: str, prefix: str, expect: int, timeout_s: float = 30
) -> list[tuple[bytes, bytes]]:
    """(key, value) of the records the gateway wrote on both intake lanes (normal, then urgent), until
    `expect` are seen."""
    from ingest.topics import INTAKE, INTAKE_URGENT, topic_name

    urgent = await read_topic(
        bootstrap, topic_name(INTAKE_URGENT, prefix), expect, timeout_s=2, gateway_only=True
    )
    normal = await read_topic(
        bootstrap, topic_name(INTAKE, prefix), expect - len(urgent), timeout_s, gateway_only=True
    )
    return normal + urgent


@contextmanager
def served(settings: Settings) -> Iterator[int]:
    """The gateway (in-process bus) served by uvicorn with the gateway's own options (app/__main__.py: the
    header and body deadlines, the connection limit), in a thread on 127.0.0.1; its port."""
    app = create_app(settings, broker=in_process_broker(settings))
    options = server_options(settings, graceful_shutdown_s=1)
    options["loop"] = "asyncio"
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield settings.port
    finally:
        server.should_exit = True
        thread.join(10)
