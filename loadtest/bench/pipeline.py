"""The pipeline stage: pre-fill the intake topic, start W workers, time until all is stored and published.

Everything belongs to the run: its own database (created, migrated, dropped), topics under its own prefix
(created, deleted), its own consumer group, its own worker processes (started and stopped by pid).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from app.intake import bus_key
from ingest.schemas.records import IntakeRecord
from ingest.topics import ALL_TOPICS, EVENTS, INTAKE, ensure_topics, topic_name
from loadtest.bench.procs import REPO_ROOT, Child, cpu_seconds, free_port, rss_mb
from loadtest.bench.records import BENCH_SECRET

_BUCKET = re.compile(r'^jiesu_worker_batch_seconds_bucket\{le="([^"]+)"\} ([\d.e+]+)$', re.M)
_LOCK_SUM = re.compile(r"^jiesu_worker_bucket_lock_(wait|held)_seconds_sum ([-+\d.eE]+)$", re.M)


def plain_dsn(url: str, database: str | None = None) -> str:
    """An asyncpg DSN from a SQLAlchemy-style URL, optionally naming another database."""
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def sqlalchemy_url(url: str, database: str) -> str:
    """The URL of `database` on the same server, in the form the project's settings take."""
    return plain_dsn(url, database).replace("postgresql://", "postgresql+asyncpg://", 1)


async def create_database(admin_url: str, name: str) -> str:
    """Drop (if left over) and create database `name`, migrate it; its URL."""
    if not re.fullmatch(r"jiesu_bench_\w+", name):
        raise ValueError(f"bench databases are named jiesu_bench_*, not {name!r}")
    conn = await asyncpg.connect(plain_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = sqlalchemy_url(admin_url, name)
    await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("alembic")), "upgrade", "head"],
        cwd=REPO_ROOT, env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}, check=True,
        capture_output=True, timeout=120,
    )  # fmt: skip
    return url


async def drop_database(admin_url: str, name: str) -> None:
    """Drop the run's database."""
    conn = await asyncpg.connect(plain_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete the run's topics (only names under its own prefix)."""
    if not prefix.startswith("bench"):
        raise ValueError(f"bench topic prefixes start with 'bench', not {prefix!r}")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        mine = [topic_name(s, prefix) for s in ALL_TOPICS if topic_name(s, prefix) in existing]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def prefill(bootstrap: str, topic: str, records: list[IntakeRecord]) -> float:
    """Put `records` on the intake topic as the gateway does (key, headers, acks=all); seconds taken."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20,
        max_batch_size=1024 * 1024, max_request_size=8 * 1024 * 1024,
    )  # fmt: skip
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for rec in records:
            headers = [
                ("schema_version", str(rec.schema_version).encode()),
                ("trace_id", rec.trace_id.encode()),
                ("ticket_id", rec.ticket_id.encode()),
            ]
            key = bus_key(rec.citizen_key, rec.ticket_id, BENCH_SECRET)
            pending.append(await producer.send(topic, rec.to_bytes(), key=key, headers=headers))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def _events_published(bootstrap: str, topic: str) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        parts = await producer.partitions_for(topic)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the run's database, closed on exit."""
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        yield conn
    finally:
        await conn.close()


def crossing(samples: list[tuple[float, int]], level: float) -> float | None:
    """When the stored count first reached `level`, linearly interpolated between samples."""
    prev_t, prev_n = None, 0
    for t, n in samples:
        if n >= level:
            if prev_t is None or n == prev_n:
                return t
            return prev_t + (t - prev_t) * (level - prev_n) / (n - prev_n)
        prev_t, prev_n = t, n
    return None


def sustained_rate(samples: list[tuple[float, int]], total: int, lo: float = 0.1, hi: float = 0.9) -> float:
    """Records per second between `lo` and `hi` of `total` stored: start-up and the tail excluded."""
    t_lo, t_hi = crossing(samples, lo * total), crossing(samples, hi * total)
    if t_lo is None or t_hi is None or t_hi <= t_lo:
        return 0.0
    return (hi - lo) * total / (t_hi - t_lo)


def value_at(series: list[tuple[float, float]], t: float) -> float | None:
    """A sampled quantity at time `t`, linearly interpolated (None outside the samples)."""
    for (t0, v0), (t1, v1) in itertools.pairwise(series):
        if t0 <= t <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return None


def sustained_cpu_rate(
    samples: list[tuple[float, int]],
    cpu: list[tuple[float, float]],
    total: int,
    lo: float = 0.1,
    hi: float = 0.9,
) -> float:
    """Records per CPU-second of the workers over the same stretch as `sustained_rate`.

    On a machine shared with other work the wall-clock rates move with everyone else's load; what one
    record costs a worker does not, and `nlp_rate_cpu` is its counterpart for the judgement loop.
    """
    t_lo, t_hi = crossing(samples, lo * total), crossing(samples, hi * total)
    if t_lo is None or t_hi is None:
        return 0.0
    c_lo, c_hi = value_at(cpu, t_lo), value_at(cpu, t_hi)
    if c_lo is None or c_hi is None or c_hi <= c_lo:
        return 0.0
    return (hi - lo) * total / (c_hi - c_lo)


def histogram_p99(metrics: str) -> float | None:
    """The 99th percentile (upper bucket bound) of jiesu_worker_batch_seconds in a /metrics text."""
    found = _BUCKET.findall(metrics)
    buckets = sorted((float("inf") if le == "+Inf" else float(le), float(n)) for le, n in found)
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    for le, n in buckets:
        if n >= 0.99 * total:
            return le
    return None


def lock_seconds(metrics: str) -> dict[str, float]:
    """Seconds a worker waited for and held its incident bucket locks, from its /metrics text."""
    return {kind: float(value) for kind, value in _LOCK_SUM.findall(metrics)}


@dataclass
class PipelineResult:
    """What one pipeline run measured."""

    workers: int
    records: int
    prefill_s: float = 0.0
    startup_s: float | None = None
    sustained_rate: float = 0.0
    wall_rate: float = 0.0
    complete: bool = False
    stored: int = 0
    events: int = 0
    worker_rss_mb: float = 0.0
    worker_cpu_share: float = 0.0
    # Records per CPU-second of all workers together, over the sustained stretch.
    sustained_cpu_rate: float = 0.0
    batch_p99_s: float | None = None
    # Shares of the workers' run time spent waiting for, and holding, the incident bucket locks: grouping a
    # city is serialised across workers, so with two workers on one city these bound what a second adds.
    lock_wait_share: float | None = None
    lock_held_share: float | None = None
    # With the reports worker beside the workers: its CPU against theirs, and how long after the last record
    # was stored its rollups had counted them all (None: not counted within the wait).
    rollups: bool = False
    rollups_cpu_share: float | None = None
    rollups_lag_s: float | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The figures, without the raw samples."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("samples", "cpu_samples")}
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


async def run_pipeline(
    *,
    bootstrap: str,
    database_url: str,
    prefix: str,
    records: list[IntakeRecord],
    workers: int,
    timeout_s: float,
    log_dir: Path,
    worker_env: dict[str, str] | None = None,
    rollups: bool = False,
) -> PipelineResult:
    """Pre-fill, run `workers` worker processes until every record is stored and published (or timeout);
    with `rollups`, the reports worker runs beside them from the start, as in production."""
    result = PipelineResult(workers=workers, records=len(records), rollups=rollups)
    await ensure_topics(bootstrap, prefix)
    result.prefill_s = await prefill(bootstrap, topic_name(INTAKE, prefix), records)
    conn = await asyncpg.connect(plain_dsn(database_url))
    ports = [free_port() for _ in range(workers)]
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "JIESU_TOPIC_PREFIX": prefix,
        "JIESU_CONSUMER_GROUP": f"{prefix}intake",
        **(worker_env or {}),
    }
    children: list[Child] = []
    reports: tuple[Child, int] | None = None
    try:
        before = int(await conn.fetchval("SELECT count(*) FROM ticket_keys"))
        started = time.monotonic()
        cpu0 = _machine_cpu()
        reports = await _start_reports(conn, prefix, env, log_dir) if rollups else None
        for i, port in enumerate(ports):
            child_env = {**env, "JIESU_WORKER_METRICS_PORT": str(port)}
            children.append(Child(f"{prefix}worker{i}", ["-m", "workers"], child_env, log_dir))
        while time.monotonic() - started < timeout_s:
            await asyncio.sleep(0.2)
            n = int(await conn.fetchval("SELECT count(*) FROM ticket_keys")) - before
            t = time.monotonic() - started
            result.samples.append((t, n))
            result.cpu_samples.append((t, sum(cpu_seconds(c.pid) for c in children)))
            if n > 0 and result.startup_s is None:
                result.startup_s = t
            result.worker_rss_mb = max(result.worker_rss_mb, *(rss_mb(c.pid) for c in children))
            dead = [c for c in children if not c.alive()]
            if dead:
                raise RuntimeError(f"{dead[0].name} exited:\n{dead[0].tail()}")
            if n >= result.records:
                result.events = await _events_published(bootstrap, topic_name(EVENTS, prefix))
                if result.events >= result.records:
                    result.complete = True
                    break
        elapsed = time.monotonic() - started
        _finish(result, elapsed, children, _machine_cpu() - cpu0)
        if reports is not None:
            await _reports_figures(result, reports[0], children, conn, reports[1] + result.records)
        metrics = await scrape_metrics(ports)
        result.batch_p99_s = max((p for m in metrics if (p := histogram_p99(m)) is not None), default=None)
        locks = [lock_seconds(m) for m in metrics]
        if locks and all(locks):
            run_s = len(ports) * (elapsed - (result.startup_s or 0.0))
            result.lock_wait_share = sum(lk.get("wait", 0.0) for lk in locks) / run_s
            result.lock_held_share = sum(lk.get("held", 0.0) for lk in locks) / run_s
    finally:
        for child in [*children, *([reports[0]] if reports is not None else [])]:
            child.stop()
        await conn.close()
        with contextlib.suppress(Exception):
            await delete_topics(bootstrap, prefix)
    return result


# Tickets the rollups have counted.
_COUNTED = "SELECT coalesce(sum(tickets), 0) FROM rollup_hourly"


async def _start_reports(
    conn: asyncpg.Connection, prefix: str, env: dict[str, str], log_dir: Path
) -> tuple[Child, int]:
    """The reports worker (`python -m workers.rollups`), and the tickets its rollups had counted before."""
    counted = int(await conn.fetchval(_COUNTED))
    return Child(f"{prefix}reports", ["-m", "workers.rollups"], env, log_dir), counted


async def _reports_figures(
    result: PipelineResult, reports: Child, workers: list[Child], conn: asyncpg.Connection, total: int
) -> None:
    """The reports worker's CPU against the workers', and the seconds until its rollups counted `total`
    tickets (waiting up to a minute once the pipeline is done)."""
    workers_cpu = sum(cpu_seconds(c.pid) for c in workers)
    result.rollups_cpu_share = cpu_seconds(reports.pid) / workers_cpu if workers_cpu else None
    started = time.monotonic()
    while result.complete and time.monotonic() - started < 60.0:
        if int(await conn.fetchval(_COUNTED)) >= total:
            result.rollups_lag_s = time.monotonic() - started
            return
        await asyncio.sleep(0.2)


def _finish(result: PipelineResult, elapsed: float, children: list[Child], cpu_all: float) -> None:
    """Rates and CPU share once the run ended."""
    cpu_workers = sum(cpu_seconds(c.pid) for c in children)
    result.worker_cpu_share = cpu_workers / cpu_all if cpu_all > 0 else 0.0
    result.stored = result.samples[-1][1] if result.samples else 0
    result.sustained_rate = sustained_rate(result.samples, result.records)
    result.sustained_cpu_rate = sustained_cpu_rate(result.samples, result.cpu_samples, result.records)
    if result.complete and result.startup_s is not None:
        result.wall_rate = result.records / (elapsed - result.startup_s)


async def scrape_metrics(ports: list[int]) -> list[str]:
    """The /metrics text of every worker that answered."""
    texts = []
    async with httpx.AsyncClient(timeout=2) as client:
        for port in ports:
            with contextlib.suppress(httpx.HTTPError):
                texts.append((await client.get(f"http://127.0.0.1:{port}/metrics")).text)
    return texts


def _machine_cpu() -> float:
    """Busy CPU seconds of the whole machine (all cores) from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
