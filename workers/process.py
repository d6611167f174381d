"""A worker process's start and life until SIGTERM or SIGINT: shared by `python -m workers` and
`python -m workers.rollups`."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from ingest import event_loop
from ingest.event_loop import LoopName
from ingest.settings import EXIT_MISCONFIGURED, Settings
from workers.metrics import serve

log = logging.getLogger("jiesu.worker")

# Each resource gets this long to close on the way out (a producer flushing to a dead broker would hang).
CLOSE_TIMEOUT_S = 10.0


async def close_within(what: str, close: Callable[[], Awaitable[object]]) -> None:
    """Close a resource on the way out, giving up (with a warning) after CLOSE_TIMEOUT_S."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await close()
    except TimeoutError:
        log.warning("%s did not close within %.0fs; leaving it", what, CLOSE_TIMEOUT_S)


class Stoppable(Protocol):
    """What runs in the background of a worker process."""

    def stop(self) -> None:
        """Ask it to end after the work in hand."""

    async def finished(self) -> None:
        """Wait for it to end; re-raise what stopped it."""


async def serve_until_signal(
    running: AbstractAsyncContextManager[Stoppable], started: Callable[[], None] | None = None
) -> None:
    """Enter `running`, call `started`, and leave on SIGTERM/SIGINT or when it ends by itself; leaving waits
    for the work in hand and re-raises whatever stopped it."""
    # Handlers first, so a stop that arrives while the worker connects is not lost (or fatal).
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    async with running as worker:
        if started is not None:
            started()
        stop = asyncio.create_task(stopping.wait())
        done = asyncio.create_task(worker.finished())
        # its outcome is re-raised below, when the block waits for the worker again
        done.add_done_callback(lambda task: task.cancelled() or task.exception())
        await asyncio.wait({stop, done}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        worker.stop()


def run_or_exit(main: Coroutine[Any, Any, None], loop: LoopName, log: logging.Logger, what: str) -> None:
    """Run `main`; an error (already logged as critical where it happened) exits 1 without a traceback."""
    try:
        event_loop.run(main, loop)
    except Exception as exc:
        log.critical(f"{what} exiting", extra={"error": f"{type(exc).__name__}: {exc}"})
        sys.exit(1)
    log.info(f"{what} exited cleanly")


def require_kafka(settings: Settings, program: str) -> None:
    """Exit 78 with one line when no Kafka is configured: a worker process cannot use the in-process bus."""
    if settings.embedded_bus:
        print(
            f"{program}: KAFKA_BOOTSTRAP_SERVERS is not set: a worker needs Kafka (make services)",
            file=sys.stderr,
        )
        sys.exit(EXIT_MISCONFIGURED)


def serve_metrics_or_exit(settings: Settings, program: str) -> None:
    """Serve the process's metrics on JIESU_WORKER_METRICS_PORT (0: none); a port already taken exits 78
    with one line naming the setting, not a traceback."""
    if not settings.worker_metrics_port:
        return
    try:
        serve(settings.worker_metrics_port, settings.host)
    except OSError as exc:  # typically a second worker on the same port
        where = f"JIESU_WORKER_METRICS_PORT={settings.worker_metrics_port} on {settings.host}"
        print(
            f"{program}: {where}: {exc.strerror or exc} (each worker on a host needs its own port)",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(EXIT_MISCONFIGURED)
