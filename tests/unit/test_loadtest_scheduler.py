"""The open loop: a slow server does not slow the arrivals, and every bound holds."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from numpy.typing import NDArray

from loadtest.plan import PlanSpec, build_plan
from loadtest.results import Recorder, Reply
from loadtest.scheduler import Bounds, SendFn, run_open_loop


def _plan(rate: float, seconds: float) -> tuple[Recorder, NDArray[np.float64]]:
    plan = build_plan(
        PlanSpec(rate=rate, constant_duration_s=seconds, retry_share=0, resubmit_share=0, invalid_share=0)
    )
    return Recorder(plan, bucket_s=1.0), plan.at


def _slow(delay_s: float) -> tuple[list[float], SendFn]:
    released: list[float] = []

    async def send(request: int) -> Reply:
        released.append(time.perf_counter())
        await asyncio.sleep(delay_s)
        return Reply(202, f"T{request}")

    return released, send


async def test_slow_server_does_not_slow_the_arrivals() -> None:
    # 100 requests at 100/s; the server takes 100 ms and only 5 may be in flight: it can do 50/s.
    rec, times = _plan(100, 1.0)
    _, send = _slow(0.1)
    started = time.perf_counter()
    state = await run_open_loop(times, send, Bounds(concurrency=5, request_timeout_s=2), rec)
    elapsed = time.perf_counter() - started
    assert state.released == 100 and rec.sent == 100 and rec.outcomes["accepted"] == 100
    # The dispatcher released every request at its intended time although the server fell behind ...
    # (Arrivals paced by the server would be up to ~1,000 ms late here; the bound leaves room for a busy CI.)
    assert rec.dispatch_lag.percentile_ms(99) < 150
    assert state.backlog_max >= 30
    assert state.in_flight_max <= 5
    # ... so the latency from the intended time shows the wait, which the service time alone would hide.
    assert rec.service.percentile_ms(50) < 200
    assert rec.latency.percentile_ms(99) > 700
    assert rec.queue_wait.percentile_ms(99) > 600
    assert 1.8 < elapsed < 5


async def test_backlog_bound_drops_and_counts() -> None:
    rec, times = _plan(200, 0.5)
    _, send = _slow(0.2)
    state = await run_open_loop(times, send, Bounds(concurrency=2, max_backlog=10, request_timeout_s=1), rec)
    assert state.backlog_max <= 10
    assert rec.not_sent_reasons["backlog full"] > 0
    assert rec.sent + rec.not_sent == len(times)


async def test_count_and_duration_bounds_cut_the_plan() -> None:
    rec, times = _plan(200, 1.0)
    _, send = _slow(0.0)
    state = await run_open_loop(times, send, Bounds(max_requests=30), rec)
    assert state.released == 30 and rec.sent == 30
    assert rec.not_sent_reasons["max requests"] == len(times) - 30

    rec, times = _plan(200, 1.0)
    started = time.perf_counter()
    state = await run_open_loop(times, send, Bounds(duration_s=0.25), rec)
    assert time.perf_counter() - started < 1.0
    assert state.stop_reason == "duration"
    assert rec.sent == int((times <= 0.25).sum())


async def test_a_server_that_never_answers_ends_in_timeouts_within_the_deadline() -> None:
    rec, times = _plan(50, 0.2)

    async def never(request: int) -> Reply:
        await asyncio.sleep(3600)
        return Reply(202)

    started = time.perf_counter()
    await run_open_loop(times, never, Bounds(concurrency=100, request_timeout_s=0.2), rec)
    # The sender's own timeout did not fire here; the loop's backstop did, within timeout + grace.
    assert time.perf_counter() - started < 0.2 + 0.2 + 2.5
    assert rec.outcomes["timeouts"] == len(times)
    assert rec.latency.count == len(times)  # failures count in the latency too, at the time they took


async def test_results_fold_into_tickets_and_series() -> None:
    plan = build_plan(PlanSpec(rate=100, constant_duration_s=1, retry_share=0.2, invalid_share=0.1))
    rec = Recorder(plan, bucket_s=0.25)

    async def gateway(request: int) -> Reply:
        m = int(plan.msg[request])
        if plan.msg_kind[m] == 2:  # invalid
            return Reply(422)
        return Reply(202, f"T{m}")

    await run_open_loop(plan.at, gateway, Bounds(), rec)
    assert rec.outcomes["rejected_4xx"] == int((plan.kind == 2).sum())
    assert all(rec.message_ticket[m] == t for m, t in rec.retry_tickets)
    assert rec.sent_series.total == plan.requests
    assert len(rec.accepted_ids()) == int((plan.msg_kind != 2).sum())
