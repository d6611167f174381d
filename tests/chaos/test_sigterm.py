"""SIGTERM drains: the gateway answers the requests it holds, the worker commits its batch in hand; exit 0.

Both faults are placed for certain rather than by timing luck. The gateway gets SIGTERM while the broker is
paused (SIGSTOP), so requests are waiting for acknowledgements at that moment; the worker gets it while it
is held inside its batch's transaction (a lock on `ticket_keys`).
"""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import pytest

from tests.chaos.conftest import Scenario, report_extra
from tests.chaos.faults import catch_up_timer, ticket_keys_locked, wait_blocked
from tests.chaos.reconcile import reconcile
from tests.chaos.topics import committed_offsets

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.postgres]

RATE = 25
# Requests sent this long before the signal are certainly in the gateway's hands when it comes.
IN_HAND_MARGIN_S = 0.05


async def test_sigterm_gateway_answers_in_flight_requests(scenario: Scenario) -> None:
    procs = scenario.procs
    gateway, w1 = procs.gateway(), procs.worker("w1")
    await procs.ready(gateway, w1)
    load = scenario.load(gateway.url, RATE, 8)
    load.start()
    await asyncio.sleep(3)
    scenario.stack.pause_kafka()
    paused_at = load.now()
    try:
        await asyncio.sleep(0.6)
        term_at = load.now()
        gateway.signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
    finally:
        scenario.stack.resume_kafka()
    exit_code = await gateway.wait_exit(20)
    exited_at = load.now()
    await load.wait()
    result = await reconcile(scenario.dsn, load, drain_timeout_s=60)
    in_hand = [o for o in load.outcomes if o.sent_at < term_at - IN_HAND_MARGIN_S]
    waiting = [o for o in in_hand if o.sent_at >= paused_at]
    dropped = [o for o in in_hand if not o.answered]
    entry = scenario.report.add(
        "sigterm_gateway",
        result,
        load,
        exited_at - term_at,
        "SIGTERM → process exited (in-flight requests answered first)",
        **report_extra(
            exit_code=exit_code,
            in_flight_at_sigterm=len(waiting),
            in_flight_answered={
                str(s): sum(1 for o in waiting if o.status == s) for s in {o.status for o in waiting}
            },
            dropped_in_flight=len(dropped),
            refused_after_sigterm=sum(1 for o in load.outcomes if o.sent_at >= term_at and not o.answered),
        ),
    )

    assert exit_code == 0, scenario.fail_with_logs(f"the gateway did not exit cleanly: {entry}")
    assert len(waiting) >= 5, f"too few requests in flight at SIGTERM to tell: {entry}"
    assert not dropped, f"requests in the gateway's hands were not answered: {dropped[:3]}"
    assert all(o.status in (202, 503) for o in in_hand), entry
    assert result.missing == 0, scenario.fail_with_logs(f"accepted but not stored: {entry}")
    assert result.duplicate_rows == 0, entry


async def test_sigterm_worker_commits_batch_in_hand(scenario: Scenario) -> None:
    procs = scenario.procs
    # One intake topic: tickets record their source partition and offset, not which lane's topic they came by.
    gateway, w1 = procs.gateway(JIESU_URGENT_LANE_ENABLED="false"), procs.worker("w1")
    await procs.ready(gateway, w1)
    load = scenario.load(gateway.url, RATE, 12)
    load.start()
    await asyncio.sleep(3)
    async with ticket_keys_locked(scenario.dsn):
        held = await wait_blocked(scenario.dsn, "w1")
        term_at = load.now()
        w1.signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
    exit_code = await w1.wait_exit(20)
    exited_at = load.now()
    # everything w1 stored must be committed: per partition, committed offset > every stored offset
    committed = await committed_offsets(scenario.stack.bootstrap, scenario.settings.consumer_group)
    conn = await asyncpg.connect(scenario.dsn)
    try:
        stored_max = {
            r["p"]: r["o"]
            for r in await conn.fetch(
                "SELECT source_partition AS p, max(source_offset) AS o FROM tickets GROUP BY 1"
            )
        }
    finally:
        await conn.close()
    uncommitted = {p: (o, committed.get(p)) for p, o in stored_max.items() if committed.get(p, -1) <= o}
    w2 = procs.worker("w2")
    await procs.ready(w2)
    caught_up = catch_up_timer(scenario.dsn, load)
    await load.wait()
    await caught_up
    result = await reconcile(scenario.dsn, load, drain_timeout_s=60)
    redelivered = int((await w2.metrics()).get("jiesu_worker_redelivered_total", 0))
    entry = scenario.report.add(
        "sigterm_worker",
        result,
        load,
        exited_at - term_at,
        "SIGTERM while held inside a batch → batch stored, committed, process exited",
        **report_extra(
            held_inside_transaction=held,
            exit_code=exit_code,
            partitions_stored_but_uncommitted=len(uncommitted),
            redelivered_to_successor=redelivered,
        ),
    )

    assert held, scenario.fail_with_logs("w1 never waited inside its transaction")
    assert exit_code == 0, scenario.fail_with_logs(f"the worker did not exit cleanly: {entry}")
    assert not uncommitted, f"stored but not committed (partition: (max stored, committed)): {uncommitted}"
    assert redelivered == 0, entry
    assert result.missing == 0, scenario.fail_with_logs(f"accepted but not stored: {entry}")
    assert result.duplicate_rows == 0, entry
