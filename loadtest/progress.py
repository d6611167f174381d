"""A live progress line on stderr: done/total, live rate against the plan, errors, backlog, latency."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from loadtest.results import Recorder
from loadtest.scheduler import LoopState

_WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def render(
    rec: Recorder, state: LoopState, *, total: int, planned_rate: float, live_rate: float, eta: float
) -> str:
    """One progress line."""
    done = sum(rec.outcomes.values()) + rec.not_sent
    frac = done / total if total else 1.0
    bar = "█" * int(frac * _WIDTH) + "·" * (_WIDTH - int(frac * _WIDTH))
    o = rec.outcomes
    p99 = rec.latency.percentile_ms(99) if rec.latency.count else 0.0
    return (
        f"|{bar}| {frac:4.0%} {done:,}/{total:,}  {live_rate:6.1f}/s (plan {planned_rate:6.1f}/s)  "
        f"202 {o['accepted']:,}  4xx {o['rejected_4xx']:,}  5xx {o['errors_5xx']:,}  "
        f"timeouts {o['timeouts']:,}  conn {o['transport_errors']:,}  not sent {rec.not_sent:,}  "
        f"backlog {state.backlog:,}  in flight {state.in_flight}  p99 {p99:,.0f} ms  ETA {_duration(eta)}"
    )


async def show(
    rec: Recorder,
    state: LoopState,
    planned: list[float] | None,
    total: int,
    span_s: float,
    *,
    stream: TextIO = sys.stderr,
    every_s: float = 0.5,
) -> None:
    """Redraw the progress line until cancelled; on a non-terminal stream print a line every 10 s."""
    tty = stream.isatty()
    every = every_s if tty else 10.0
    last_done, last_t = 0, time.perf_counter()
    while True:
        await asyncio.sleep(every)
        now = time.perf_counter()
        done = sum(rec.outcomes.values())
        live = (done - last_done) / max(now - last_t, 1e-6)
        last_done, last_t = done, now
        elapsed = now - state.started
        planned_rate = _planned_rate(planned, elapsed, every)
        line = render(
            rec, state, total=total, planned_rate=planned_rate, live_rate=live, eta=span_s - elapsed
        )
        stream.write(f"\r{line}\x1b[K" if tty else line + "\n")
        stream.flush()


def _planned_rate(planned: list[float] | None, elapsed: float, window: float) -> float:
    """The plan's arrival rate around `elapsed` (from the per-second offered counts)."""
    if not planned:
        return 0.0
    i = min(int(elapsed), len(planned) - 1)
    lo = max(0, i - max(1, int(window)))
    chunk = planned[lo : i + 1]
    return sum(chunk) / len(chunk) if chunk else 0.0


def finish(stream: TextIO = sys.stderr) -> None:
    """End the progress line."""
    if stream.isatty():
        stream.write("\n")
        stream.flush()
