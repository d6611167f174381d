"""Postgres stopped under load for a few seconds, then started again.

The gateway keeps accepting (it never touches the database on the submission path); the workers fail their
batches as transient, retry without committing, and recover by themselves once the database is back — the
same processes, no restart — with nothing lost and nothing stored twice.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.chaos.conftest import Scenario, report_extra
from tests.chaos.faults import catch_up_timer
from tests.chaos.reconcile import reconcile

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.postgres]

RATE, DURATION_S = 25, 18
STOP_AT_S, DOWN_S = 4.0, 4.0


async def test_postgres_restarted_under_load(scenario: Scenario) -> None:
    procs = scenario.procs
    gateway, w1, w2 = procs.gateway(), procs.worker("w1"), procs.worker("w2")
    await procs.ready(gateway, w1, w2)
    load = scenario.load(gateway.url, RATE, DURATION_S)
    load.start()
    await asyncio.sleep(STOP_AT_S)
    stopped_at = load.now()
    await scenario.stack.arun("postgres", "stop")
    # w2 is told to stop while it retries a batch the database cannot take: it must leave (exit 0) at once,
    # its batch uncommitted, for w1 to process once the database is back.
    await asyncio.sleep(1.0)
    w2.signal(signal.SIGTERM)
    w2_exit = await w2.wait_exit(10)
    w2_stop_s = load.now() - stopped_at - 1.0
    await asyncio.sleep(max(0.0, DOWN_S - (load.now() - stopped_at)))
    await scenario.stack.arun("postgres", "start")
    healed_at = load.now()
    caught_up = catch_up_timer(scenario.dsn, load)
    await load.wait()
    recovery_s = await caught_up
    result = await reconcile(scenario.dsn, load, drain_timeout_s=90)
    w1_metrics = await w1.metrics() if w1.alive else {}
    transient = w1_metrics.get("jiesu_worker_transient_failures_total", 0.0)
    entry = scenario.report.add(
        "postgres_restart",
        result,
        load,
        recovery_s,
        "database started again → every ticket accepted until then stored, by the same worker processes",
        **report_extra(
            database_down_s=healed_at - stopped_at,
            transient_retries_w1=int(transient),
            w2_sigterm_while_retrying={
                "exit_code": w2_exit,
                "stop_s": round(w2_stop_s, 2),
                "left_batch_uncommitted": "stopped while retrying" in w2.log_tail(50),
            },
        ),
    )

    assert w1.alive and gateway.alive, scenario.fail_with_logs("a process died with the database")
    assert transient > 0, scenario.fail_with_logs("w1 never saw the database go away")
    assert w2_exit == 0, scenario.fail_with_logs(f"w2 did not leave cleanly while retrying: {entry}")
    assert not load.unexpected() and not load.with_status(503), entry
    assert recovery_s is not None, scenario.fail_with_logs(f"the workers did not recover: {entry}")
    assert result.missing == 0, scenario.fail_with_logs(f"accepted but not stored: {entry}")
    assert result.duplicate_rows == 0, entry
