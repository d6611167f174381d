"""The simulator against the real stack, then reconciliation.

`python -m app` and one `python -m workers` process on the real Kafka and Postgres; 300 messages at a
constant rate with retries, resubmissions and invalid ones.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from ingest.settings import REPO_ROOT, Settings
from loadtest.config import RunConfig
from loadtest.plan import PlanSpec
from loadtest.runner import run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _gateway_and_worker(settings: Settings, port: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": settings.database_url,
        "JIESU_TOPIC_PREFIX": settings.topic_prefix,
        "JIESU_CONSUMER_GROUP": settings.consumer_group,
        "JIESU_BATCH_TIMEOUT_MS": "100",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "JIESU_LOG_LEVEL": "WARNING",
    }
    procs = [
        subprocess.Popen([sys.executable, "-m", "app"], env=env, cwd=REPO_ROOT),
        subprocess.Popen([sys.executable, "-m", "workers"], env=env, cwd=REPO_ROOT),
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.mark.timeout(180)
async def test_simulator_run_loses_nothing_and_reports_it(stack_settings: Settings, tmp_path: Path) -> None:
    port = _free_port()
    cfg = RunConfig(
        spec=PlanSpec(
            profile="constant",
            rate=100,
            messages=300,
            retry_share=0.05,
            resubmit_share=0.03,
            invalid_share=0.03,
            seed=6,
        ),
        target=f"http://127.0.0.1:{port}",
        run_id=f"it{uuid.uuid4().hex[:8]}",
        report=tmp_path / "report.json",
        concurrency=64,
        timeout_s=10,
        kafka=stack_settings.kafka_bootstrap_servers,
        topic_prefix=stack_settings.topic_prefix,
        database_url=stack_settings.database_url,
        drain_timeout_s=60,
        stall_s=30,
        ready_timeout_s=60,
        progress=False,
    )
    with _gateway_and_worker(stack_settings, port) as procs:
        report = await run(cfg)
        assert all(proc.poll() is None for proc in procs), "a process died under load"

    truth = report["ground_truth"]
    assert report["sent"] == truth["requests"] == 300 + truth["by_kind"]["retry"]
    rec = report["reconciliation"]
    assert rec["missing"] == 0 and rec["duplicate_rows"] == 0
    assert rec["accepted"] == rec["stored"] == rec["ticket_keys"] == truth["expected_tickets"]
    assert report["rejected_4xx"] == truth["by_kind"]["invalid"]
    dd = report["dedupe"]
    assert dd["client_retries"]["same_ticket"] == truth["by_kind"]["retry"]
    assert dd["client_retries"]["different_ticket"] == 0
    assert report["e2e_latency_ms"]["source"] == "kafka-events"
    assert report["e2e_latency_ms"]["count"] == rec["accepted"]
    assert report["latency_ms"]["p99"] is not None
    assert report["ok"] is True, report["checks"]
    on_disk = orjson.loads(cfg.report.read_bytes())
    assert on_disk["reconciliation"]["missing"] == 0
    assert "<svg" in cfg.report.with_suffix(".html").read_text(encoding="utf-8")
