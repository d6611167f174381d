"""A rebalance under load: a second worker joins the group, then the first one leaves (SIGTERM).

Partitions move twice while batches are in flight; a batch whose partitions moved away cannot commit and is
read again by the new owner, so the check is the usual one: nothing lost, nothing stored twice.
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
JOIN_AT_S, LEAVE_AFTER_JOIN_S = 3.0, 3.0


async def test_rebalance_worker_joins_and_leaves(scenario: Scenario) -> None:
    procs = scenario.procs
    gateway, w1 = procs.gateway(), procs.worker("w1")
    await procs.ready(gateway, w1)
    load = scenario.load(gateway.url, RATE, DURATION_S)
    load.start()
    await asyncio.sleep(JOIN_AT_S)
    w2 = procs.worker("w2")
    await procs.ready(w2)
    joined_at = load.now()
    await asyncio.sleep(LEAVE_AFTER_JOIN_S)
    w1.signal(signal.SIGTERM)
    w1_status = await w1.wait_exit(20)
    left_at = load.now()
    caught_up = catch_up_timer(scenario.dsn, load)
    await load.wait()
    recovery_s = await caught_up
    result = await reconcile(scenario.dsn, load, drain_timeout_s=90)
    metrics = await w2.metrics()
    entry = scenario.report.add(
        "rebalance_join_leave",
        result,
        load,
        recovery_s,
        "first worker left (exited) → every ticket accepted until then stored by the one remaining",
        **report_extra(
            joined_at_s=joined_at,
            left_at_s=left_at,
            leaver_exit_code=w1_status,
            w2_commits=int(metrics.get("jiesu_worker_commits_total", 0)),
            w2_commits_lost=int(metrics.get("jiesu_worker_commits_lost_total", 0)),
            w2_redelivered=int(metrics.get("jiesu_worker_redelivered_total", 0)),
        ),
    )

    assert w1_status == 0, scenario.fail_with_logs(f"the leaving worker did not exit cleanly: {w1_status}")
    assert w2.alive, scenario.fail_with_logs("the remaining worker died")
    assert not load.unexpected() and not load.with_status(503), entry
    assert recovery_s is not None, scenario.fail_with_logs(f"the remaining worker did not catch up: {entry}")
    assert result.missing == 0, scenario.fail_with_logs(f"accepted but not stored: {entry}")
    assert result.duplicate_rows == 0, entry
