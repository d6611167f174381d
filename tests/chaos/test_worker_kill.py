"""Workers SIGKILLed mid-batch under load and restarted: no ticket lost, none stored twice.

The first kill is placed for certain: worker w1 is held inside its batch's transaction (a lock on
`ticket_keys`) when it dies, so its batch is neither stored nor committed and must come again. The second
kill hits w2 wherever it happens to be — possibly between the database commit and the offset commit, the
window where a careless worker would lose or double records.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.chaos.conftest import Scenario, report_extra
from tests.chaos.faults import catch_up_timer, ticket_keys_locked, wait_blocked
from tests.chaos.reconcile import reconcile

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.postgres]

RATE, DURATION_S = 25, 20


async def test_worker_killed_mid_batch_and_restarted(scenario: Scenario) -> None:
    procs = scenario.procs
    gateway, w1, w2 = procs.gateway(), procs.worker("w1"), procs.worker("w2")
    await procs.ready(gateway, w1, w2)
    load = scenario.load(gateway.url, RATE, DURATION_S)
    load.start()
    await asyncio.sleep(4)

    async with ticket_keys_locked(scenario.dsn):
        held = await wait_blocked(scenario.dsn, "w1")
        w1.signal(signal.SIGKILL)
        w1_status = await w1.wait_exit(5)
    w1b = procs.worker("w1b")

    await asyncio.sleep(max(0.0, 11 - load.now()))
    w2.signal(signal.SIGKILL)
    w2_status = await w2.wait_exit(5)
    w2b = procs.worker("w2b")
    caught_up = catch_up_timer(scenario.dsn, load)

    await load.wait()
    recovery_s = await caught_up
    result = await reconcile(scenario.dsn, load, drain_timeout_s=90)
    redelivered = 0.0
    for worker in (w1b, w2b):
        if worker.alive:
            redelivered += (await worker.metrics()).get("jiesu_worker_redelivered_total", 0.0)
    entry = scenario.report.add(
        "worker_sigkill_mid_batch",
        result,
        load,
        recovery_s,
        "second kill, worker restarted → every ticket accepted until then stored",
        **report_extra(
            killed_inside_transaction=held,
            kill_exit_codes=[w1_status, w2_status],
            redelivered_after_restart=int(redelivered),
        ),
    )

    assert held, scenario.fail_with_logs("w1 never waited inside its transaction")
    assert w1_status == -signal.SIGKILL and w2_status == -signal.SIGKILL, entry
    assert not load.unexpected() and not load.with_status(503), entry
    assert result.missing == 0, scenario.fail_with_logs(f"accepted but not stored: {entry}")
    assert result.duplicate_rows == 0, entry
    assert recovery_s is not None, scenario.fail_with_logs(f"the pipeline did not catch up: {entry}")
    assert w1b.alive and w2b.alive, scenario.fail_with_logs("a restarted worker died")
