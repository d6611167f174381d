"""Fixtures for the real local stack (scripts/services.sh) and for fast unit tests.

Tests that use the `kafka_bootstrap` or `database_url` fixtures are marked `kafka` / `postgres` automatically.
When the services are not reachable those tests skip — unless JIESU_REQUIRE_SERVICES=1 (as `make test` sets),
in which case they fail, so CI can never pass by skipping them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.config import Config

from ingest.settings import REPO_ROOT, Settings
from ingest.topics import ensure_topics
from judgement_lab.dataset import default_data_dir

SERVICES_ENV = REPO_ROOT / ".data" / "services.env"
_REAL_STACK_MARKERS = {
    "kafka_bootstrap": "kafka",
    "database_url": "postgres",
    "fresh_database_url": "postgres",
}


def _service_address(name: str) -> str | None:
    if os.environ.get(name):
        return os.environ[name]
    if SERVICES_ENV.exists():
        for line in SERVICES_ENV.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == name:
                return value.strip()
    return None


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _unavailable(what: str) -> None:
    message = f"{what} is not reachable; start it with `make services`"
    if os.environ.get("JIESU_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the real stack, by the fixtures it uses."""
    for item in items:
        for fixture, marker in _REAL_STACK_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(getattr(pytest.mark, marker))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many passed tests ran against the real Kafka and Postgres (chaos: on a private pair)."""
    passed = terminalreporter.stats.get("passed", [])
    kafka = sum(1 for rep in passed if "kafka" in rep.keywords)
    postgres = sum(1 for rep in passed if "postgres" in rep.keywords)
    chaos = sum(1 for rep in passed if "chaos" in rep.keywords)
    real = sum(1 for rep in passed if {"kafka", "postgres", "chaos"} & set(rep.keywords))
    terminalreporter.write_line(
        f"jiesu: {len(passed)} passed; {real} against the real stack "
        f"({kafka} used the real Kafka broker, {postgres} the real Postgres, "
        f"{chaos} were fault scenarios on a private Kafka + Postgres)"
    )
    # Figures of generated tests, from the modules that ran (not imported otherwise: no schemathesis needed).
    schemathesis_run = sys.modules.get("tests.integration.test_api_schemathesis")
    if schemathesis_run is not None:
        for line in schemathesis_run.figures():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap servers of the broker scripts/kafka.sh started."""
    servers = _service_address("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        _unavailable("Kafka (no KAFKA_BOOTSTRAP_SERVERS)")
    assert servers
    host, _, port = servers.split(",")[0].rpartition(":")
    if not _reachable(host, int(port)):
        _unavailable(f"Kafka at {servers}")
    return servers


@contextmanager
def _new_database() -> Iterator[str]:
    """A new, migrated database on the local Postgres server, dropped afterwards."""
    server_url = _service_address("DATABASE_URL")
    if not server_url:
        _unavailable("Postgres (no DATABASE_URL)")
    assert server_url
    dsn = Settings(database_url=server_url).database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    base, _, _ = dsn.rpartition("/")
    host, _, port = base.rsplit("@", 1)[-1].partition(":")
    if not _reachable(host, int(port or 5432)):
        _unavailable(f"Postgres at {host}:{port}")
    name = f"jiesu_test_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
        migrate(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database shared by this test session's tests, migrated to head."""
    with _new_database() as url:
        yield url


@pytest.fixture
def fresh_database_url() -> Iterator[str]:
    """A database of one test alone (for tests whose result depends on what else is stored)."""
    with _new_database() as url:
        yield url


def migrate(url: str, revision: str = "head") -> None:
    """Run the Alembic migrations against `url`."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    command.upgrade(config, revision)


@pytest.fixture
async def topic_prefix(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A topic prefix of this test alone, with all declared topics created under it."""
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    await ensure_topics(kafka_bootstrap, prefix)
    yield prefix


@pytest.fixture
def stack_settings(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> Settings:
    """Settings for the real stack, isolated by topic prefix, database and consumer group."""
    return Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        consumer_group=f"test-{uuid.uuid4().hex[:8]}",
        batch_timeout_ms=100,
    )


@pytest.fixture
def data_dir() -> Path:
    """The training data: $JIESU_TRAINING_DATA_DIR, else ../shared/data."""
    return default_data_dir()
