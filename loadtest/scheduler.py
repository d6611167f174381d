"""Open-loop sending: requests leave at their planned times whatever the server does, within hard bounds.

One dispatcher walks the plan and releases each request at its intended time into a backlog; a fixed pool
of senders takes from the backlog. A slow server therefore grows the backlog (measured, and charged to
latency from the intended time) instead of slowing the arrivals. Nothing is unbounded: at most
`concurrency` requests are in flight, at most `max_backlog` wait (beyond that a request is dropped and
counted as not sent), at most `max_requests` are sent, no request is released after `duration_s`, and the
senders are stopped `request_timeout_s` (plus a grace) after the last release.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from loadtest.results import Recorder, Reply

SendFn = Callable[[int], Awaitable[Reply]]
Clock = Callable[[], float]
# Releasing requests due within this much of now in one go costs less than sleeping for each.
_EARLY_S = 0.0005
_GRACE_S = 2.0


@dataclass(frozen=True)
class Bounds:
    """The limits of one run."""

    concurrency: int = 256
    max_backlog: int = 20_000
    duration_s: float = 3600.0
    max_requests: int = 1_000_000_000
    request_timeout_s: float = 10.0
    gauge_every_s: float = 0.25

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_backlog < 0 or self.max_requests < 0:
            raise ValueError("concurrency must be >= 1; max_backlog and max_requests >= 0")
        if self.duration_s <= 0 or self.request_timeout_s <= 0:
            raise ValueError("duration and request timeout must be positive")


@dataclass
class LoopState:
    """Live figures of the loop, read by the progress display."""

    started: float = 0.0
    released: int = 0
    backlog: int = 0
    in_flight: int = 0
    backlog_max: int = 0
    in_flight_max: int = 0
    finished_dispatch: bool = False
    stop_reason: str = ""


async def run_open_loop(
    times: Sequence[float] | NDArray[np.float64],
    send: SendFn,
    bounds: Bounds,
    recorder: Recorder,
    *,
    clock: Clock = time.perf_counter,
    state: LoopState | None = None,
) -> LoopState:
    """Send request i at `times[i]` seconds after the start (times sorted); return the loop's figures."""
    state = state or LoopState()
    planned: list[float] = times.tolist() if isinstance(times, np.ndarray) else list(times)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    start = state.started = clock()

    async def sender() -> None:
        while (item := await queue.get()) is not None:
            request, due = item
            state.backlog = queue.qsize()
            state.in_flight += 1
            state.in_flight_max = max(state.in_flight_max, state.in_flight)
            sent = clock()
            recorder.on_sent(sent - start, due - start)
            try:
                # The sender enforces the timeout itself; this is the backstop if it does not.
                async with asyncio.timeout(bounds.request_timeout_s + _GRACE_S):
                    reply = await send(request)
            except TimeoutError:
                reply = Reply(None, error="timeout")
            finally:
                state.in_flight -= 1
            recorder.on_reply(request, due - start, sent - start, clock() - start, reply)

    async def gauges() -> None:
        while True:
            state.backlog = queue.qsize()
            recorder.on_gauges(clock() - start, state.backlog, state.in_flight)
            await asyncio.sleep(bounds.gauge_every_s)

    senders = [asyncio.create_task(sender()) for _ in range(bounds.concurrency)]
    gauge = asyncio.create_task(gauges())
    try:
        await _dispatch(
            planned, bounds=bounds, recorder=recorder, queue=queue, state=state, start=start, clock=clock
        )
        state.finished_dispatch = True
        for _ in senders:
            queue.put_nowait(None)
        # Bounded drain: what is queued must leave and be answered within the request timeout.
        deadline = max(clock() - start, bounds.duration_s) + bounds.request_timeout_s + _GRACE_S
        remaining = max(0.0, deadline - (clock() - start))
        _done, pending = await asyncio.wait(senders, timeout=remaining)
        if pending:
            state.stop_reason = state.stop_reason or "drain deadline"
            _drop_queued(queue, recorder, start)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    finally:
        gauge.cancel()
        for task in senders:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gauge
        await asyncio.gather(*senders, return_exceptions=True)
    recorder.on_gauges(clock() - start, queue.qsize(), state.in_flight)
    return state


async def _dispatch(
    times: Sequence[float],
    *,
    bounds: Bounds,
    recorder: Recorder,
    queue: asyncio.Queue[tuple[int, float] | None],
    state: LoopState,
    start: float,
    clock: Clock,
) -> None:
    """Release every request at its intended time; never wait on the senders."""
    released_since_yield = 0
    cut_at = len(times)
    for request, at in enumerate(times):
        if request >= bounds.max_requests or at > bounds.duration_s:
            state.stop_reason = "max requests" if request >= bounds.max_requests else "duration"
            cut_at = request
            break
        due = start + float(at)
        wait = due - clock()
        if wait > _EARLY_S:
            await asyncio.sleep(wait)
            released_since_yield = 0
        elif released_since_yield >= 256:
            await asyncio.sleep(0)  # let the senders run when a long run of requests is already due
            released_since_yield = 0
        recorder.dispatch_lag.record(max(0.0, clock() - due))
        if queue.qsize() >= bounds.max_backlog:
            recorder.on_not_sent(request, due - start, "backlog full")
            continue
        queue.put_nowait((request, due))
        released_since_yield += 1
        state.released += 1
        state.backlog = queue.qsize()
        state.backlog_max = max(state.backlog_max, state.backlog)
    else:
        state.stop_reason = "plan complete"
    # Requests the bounds cut off are accounted for too.
    for request in range(cut_at, len(times)):
        recorder.on_not_sent(request, float(times[request]), state.stop_reason)


def _drop_queued(queue: asyncio.Queue[tuple[int, float] | None], recorder: Recorder, start: float) -> None:
    """Count whatever is still queued at the drain deadline as not sent."""
    while not queue.empty():
        item = queue.get_nowait()
        if item is not None:
            recorder.on_not_sent(item[0], item[1] - start, "drain deadline")
