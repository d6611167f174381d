"""Fixtures of the fault scenarios: the private stack, one isolated pipeline per scenario, the chaos report.

Every scenario gets its own database (migrated), topic prefix and consumer group on the private stack
(tests/chaos/stack.py), so scenarios cannot see each other's records. The stack is started once per session
and stopped at the end (JIESU_CHAOS_KEEP_STACK=1 keeps it running for the next run).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import IO, Any, NoReturn

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from ingest.settings import REPO_ROOT, Settings
from ingest.topics import ALL_TOPICS, ensure_topics, topic_name
from tests.chaos.load import OpenLoopLoad
from tests.chaos.processes import Processes, processes
from tests.chaos.reconcile import ChaosReport
from tests.chaos.stack import ChaosStack, StackError
from tests.conftest import migrate

REPORT_PATH = REPO_ROOT / ".data" / "chaos-report.json"
PRODUCE_TIMEOUT_S = 2.0


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("JIESU_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _lock_stack(stack: ChaosStack, timeout_s: float = 900) -> IO[bytes]:
    """One test session at a time on the private stack: another session's faults (or its final stop) would
    break ours. Waits for a session that holds it (two engineers running the whole suite at once)."""
    stack.data_dir.mkdir(parents=True, exist_ok=True)
    lock = (stack.data_dir / ".session.lock").open("wb")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > deadline:
                lock.close()
                _unavailable(f"another test session held the private chaos stack for {timeout_s:.0f}s")
            time.sleep(1)


@pytest.fixture(scope="session")
def chaos_stack() -> Iterator[ChaosStack]:
    """The private Kafka and Postgres, started by the project's scripts on their own ports and data dir."""
    stack = ChaosStack.from_env()
    lock = _lock_stack(stack)
    # the processes' logs of the previous session go; this session's stay for a look after a failure
    shutil.rmtree(stack.log_dir, ignore_errors=True)
    try:
        try:
            stack.start()
        except (StackError, OSError) as exc:
            _unavailable(f"the private chaos stack did not start: {exc}")
        yield stack
        if os.environ.get("JIESU_CHAOS_KEEP_STACK") != "1":
            stack.stop()
    finally:
        lock.close()


@pytest.fixture(scope="session")
def chaos_report(chaos_stack: ChaosStack) -> ChaosReport:
    """The report of this session's scenarios, rewritten as each one finishes."""
    return ChaosReport(
        REPORT_PATH,
        stack={
            "kafka": chaos_stack.bootstrap,
            "postgres": f"127.0.0.1:{chaos_stack.pg_port}",
            "data_dir": str(chaos_stack.data_dir),
            "produce_timeout_s": PRODUCE_TIMEOUT_S,
        },
    )


@dataclass
class Scenario:
    """One scenario's pipeline: settings, processes, the private stack's faults, and the report."""

    name: str
    settings: Settings
    env: dict[str, str]
    stack: ChaosStack
    procs: Processes
    report: ChaosReport

    @property
    def dsn(self) -> str:
        """The scenario's database as an asyncpg DSN."""
        return self.settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    def load(self, base_url: str, rate_per_s: float, duration_s: float) -> OpenLoopLoad:
        """An open-loop load of distinct submissions (not started yet)."""
        return OpenLoopLoad(
            base_url,
            f"{self.name[:12]}-{uuid.uuid4().hex[:6]}",
            rate_per_s,
            duration_s,
            self.settings.ticket_secret,
        )

    def fail_with_logs(self, message: str) -> str:
        """`message` followed by the tails of the processes' logs."""
        return f"{message}\n{self.procs.logs()}"


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        await admin.delete_topics([topic_name(spec, prefix) for spec in ALL_TOPICS])
    finally:
        await admin.close()


@pytest.fixture
async def scenario(
    request: pytest.FixtureRequest, chaos_stack: ChaosStack, chaos_report: ChaosReport
) -> AsyncIterator[Scenario]:
    """A fresh database, topic prefix and consumer group on the private stack; processes stopped after."""
    name = request.node.name.removeprefix("test_")
    tag = uuid.uuid4().hex[:6]
    database = f"chaos_{tag}"
    # a fault of an earlier scenario may still be healing: the stack must answer before we build on it
    await chaos_stack.arun("postgres", "start")
    await chaos_stack.arun("kafka", "start")
    await _admin(chaos_stack.server_url, f'CREATE DATABASE "{database}"')
    base = chaos_stack.server_url.rpartition("/")[0]
    url = f"{base}/{database}"
    await asyncio.to_thread(migrate, url)
    prefix = f"chaos-{name[:16]}-{tag}."
    await ensure_topics(chaos_stack.bootstrap, prefix)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": chaos_stack.bootstrap,
        "DATABASE_URL": url,
        "JIESU_TOPIC_PREFIX": prefix,
        "JIESU_CONSUMER_GROUP": f"chaos-{tag}",
        "JIESU_PRODUCE_TIMEOUT_S": str(PRODUCE_TIMEOUT_S),
        "JIESU_BATCH_TIMEOUT_MS": "100",
        "JIESU_RETRY_BACKOFF_S": "0.5",
        "JIESU_LOG_LEVEL": os.environ.get("JIESU_CHAOS_LOG_LEVEL", "INFO"),
    }
    settings = Settings(
        kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        database_url=url,
        topic_prefix=prefix,
        consumer_group=env["JIESU_CONSUMER_GROUP"],
        produce_timeout_s=PRODUCE_TIMEOUT_S,
    )
    log_dir = chaos_stack.log_dir / f"{name}-{tag}"
    log_dir.mkdir(parents=True, exist_ok=True)
    with processes(env, log_dir) as procs:
        yield Scenario(name, settings, env, chaos_stack, procs, chaos_report)
    # (a failure here only leaves a database or topics behind on the private stack)
    with contextlib.suppress(OSError, asyncpg.PostgresError):
        await _admin(chaos_stack.server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    with contextlib.suppress(KafkaError, OSError):
        await _delete_topics(chaos_stack.bootstrap, prefix)


def report_extra(**values: Any) -> dict[str, Any]:
    """Round the floats of a report entry's extra fields."""
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in values.items()}
