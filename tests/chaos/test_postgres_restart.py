"""Postgres stopped under load for a few seconds, then started again.

The gateway keeps accepting (it never touches the database on the submission path); the workers fail their
batches as transient, retry without committing, and recover by themselves once the database is back — the
same processes, no restart — with nothing lost and nothing stored twice.
"""

from __future__ import annotations

import asyncio

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
    await asyncio.sleep(DOWN_S)
    await scenario.stack.arun("postgres", "start")
    healed_at = load.now()
    caught_up = catch_up_timer(scenario.dsn, load)
    await load.wait()
    recovery_s = await caught_up
    result = await reconcile(scenario.dsn, load, drain_timeout_s=90)
    transient = 0.0
    for worker in (w1, w2):
        if worker.alive:
            transient += (await worker.metrics()).get("jiesu_worker_transient_failures_total", 0.0)
    entry = scenario.report.add(
        "postgres_restart",
        result,
        load,
        recovery_s,
        "database started again → every ticket accepted until then stored, by the same worker processes",
        **report_extra(database_down_s=healed_at - stopped_at, transient_retries=int(transient)),
    )

    assert w1.alive and w2.alive and gateway.alive, scenario.fail_with_logs(
        "a process died with the database"
    )
    assert transient > 0, scenario.fail_with_logs("the workers never saw the database go away")
    assert not load.unexpected() and not load.with_status(503), entry
    assert recovery_s is not None, scenario.fail_with_logs(f"the workers did not recover: {entry}")
    assert result.missing == 0, scenario.fail_with_logs(f"accepted but not stored: {entry}")
    assert result.duplicate_rows == 0, entry
