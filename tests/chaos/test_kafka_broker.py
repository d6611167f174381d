"""The Kafka broker is SIGKILLed under load and restarted.

While it is down the gateway answers 503 within its budget (never hangs, never 202 without the broker's
acknowledgement); once it is back, accepting resumes by itself, the workers carry on, nothing accepted is
lost.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest

from tests.chaos.conftest import PRODUCE_TIMEOUT_S, Scenario, report_extra
from tests.chaos.load import complaint
from tests.chaos.reconcile import reconcile

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.postgres]

RATE = 25
KILL_AT_S, DOWN_S = 4.0, 3.0
# The load goes on this long after the broker is back (its restart takes 5-20 s on a busy machine).
AFTER_HEAL_S = 6.0
MAX_DURATION_S = 90
# 503 within the budget, plus what a busy two-core machine adds to a request
SLACK_S = 1.5
# A gateway told to stop while the broker is dead: its requests' budget, the producer's bounded stop, slack.
STOP_BOUND_S = 15.0


async def _submit(url: str, run_id: str, count: int) -> list[int]:
    """Send `count` submissions at once; their statuses."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        answers = await asyncio.gather(
            *(http.post("/v1/complaints", json=complaint(run_id, i)) for i in range(count))
        )
    return [a.status_code for a in answers]


async def test_kafka_broker_killed_and_restarted(scenario: Scenario) -> None:
    procs = scenario.procs
    gateway, w1, w2 = procs.gateway(), procs.worker("w1"), procs.worker("w2")
    standby = procs.gateway("standby")
    await procs.ready(gateway, w1, w2, standby)
    load = scenario.load(gateway.url, RATE, MAX_DURATION_S)
    # the standby has sent before (it knows the partitions' leader), so its later sends queue in its producer
    warmed = await _submit(standby.url, f"{load.run_id}-warm", 1)
    load.start()
    await asyncio.sleep(KILL_AT_S)
    killed_at = load.now()
    await scenario.stack.arun("kafka", "kill")
    # A gateway stopped while the broker is dead, with records it could not deliver, must still exit (0).
    stranded = await _submit(standby.url, f"{load.run_id}-standby", 5)
    standby.signal(signal.SIGTERM)
    stop_started = time.monotonic()
    standby_exit = await standby.wait_exit(30)
    standby_stop_s = time.monotonic() - stop_started
    await asyncio.sleep(max(0.0, DOWN_S - (load.now() - killed_at)))
    restart_s = await scenario.stack.arun("kafka", "start")
    healed_at = load.now()
    await asyncio.sleep(AFTER_HEAL_S)
    load.stop_sending()
    await load.wait()

    result = await reconcile(scenario.dsn, load, drain_timeout_s=90)
    first = load.first_accepted_after(healed_at)
    recovery_s = (first.sent_at + (first.latency_s or 0)) - healed_at if first else None
    unavailable = load.with_status(503)
    slowest_503 = max((o.latency_s or 0 for o in unavailable), default=0.0)
    entry = scenario.report.add(
        "kafka_broker_sigkill",
        result,
        load,
        recovery_s,
        "broker restarted (script returned) → first 202",
        **report_extra(
            broker_down_s=healed_at - killed_at,
            broker_restart_s=restart_s,
            slowest_503_s=slowest_503,
            stopped_gateway_while_down={
                "exit_code": standby_exit,
                "stop_s": round(standby_stop_s, 2),
                "answers": stranded,
            },
            accepted_while_down=sum(
                1 for o in load.accepted() if killed_at + 0.5 < o.sent_at < healed_at - restart_s
            ),
        ),
    )

    assert entry["accepted_while_down"] == 0, f"202 while the broker was dead: {entry}"
    assert warmed == [202] and stranded == [503] * len(stranded), entry
    assert standby_exit == 0 and standby_stop_s < STOP_BOUND_S, scenario.fail_with_logs(
        f"stuck stop: {entry}"
    )
    assert unavailable, "no 503 while the broker was down"
    assert slowest_503 <= PRODUCE_TIMEOUT_S + SLACK_S, f"a 503 took {slowest_503:.2f}s: {entry}"
    assert not load.unexpected(), scenario.fail_with_logs(f"answers other than 202/503: {entry}")
    assert first is not None, scenario.fail_with_logs("accepting did not resume after the restart")
    assert result.missing == 0, scenario.fail_with_logs(f"accepted but not stored: {entry}")
    assert result.duplicate_rows == 0, entry
    assert w1.alive and w2.alive and gateway.alive, scenario.fail_with_logs("a process died with the broker")
