"""`python -m workers`: one intake worker process on the Kafka and Postgres the settings name.

Run several for more throughput; they share the consumer group and split the intake partitions.
SIGTERM or SIGINT drains: the batch in hand is finished and committed, then the process exits 0. A worker that
stops on its own (an unknown error, a dead-letter flood) exits 1; one that cannot start as configured (an
invalid setting, a metrics port already taken) prints one line naming the setting and exits 78.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from ingest import event_loop
from ingest.gc_tuning import tune_gc
from ingest.logs import configure_logging
from ingest.settings import EXIT_MISCONFIGURED, Settings, settings_or_exit
from workers.consumer import metrics_url, running_worker
from workers.metrics import serve

log = logging.getLogger("jiesu.worker")


async def _serve(settings: Settings) -> None:
    # Handlers first, so a stop that arrives while the worker connects is not lost (or fatal).
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    async with running_worker(settings) as worker:
        # After start-up, so that the judgement model and the consumer are frozen out of the collector's way.
        tune_gc(settings.gc_tuning)
        stop = asyncio.create_task(stopping.wait())
        done = asyncio.create_task(worker.finished())
        # its outcome is re-raised below, when the block waits for the worker again
        done.add_done_callback(lambda task: task.cancelled() or task.exception())
        await asyncio.wait({stop, done}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        worker.stop()
        # leaving the block waits for the batch in hand and re-raises whatever stopped the worker


def main() -> None:
    """Run one worker until SIGTERM/SIGINT; the batch in hand is finished and committed first."""
    settings = settings_or_exit("python -m workers")
    configure_logging(settings.log_level)
    if settings.embedded_bus:
        print(
            "python -m workers: KAFKA_BOOTSTRAP_SERVERS is not set: a worker needs Kafka (make services)",
            file=sys.stderr,
        )
        sys.exit(EXIT_MISCONFIGURED)
    try:
        serve(settings.worker_metrics_port, settings.host)
    except OSError as exc:  # typically a second worker on the same port: say which setting, not a traceback
        where = f"JIESU_WORKER_METRICS_PORT={settings.worker_metrics_port} on {settings.host}"
        print(
            f"python -m workers: {where}: {exc.strerror or exc} (each worker on a host needs its own port)",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(EXIT_MISCONFIGURED)
    if settings.worker_metrics_port:
        log.info("worker metrics served", extra={"metrics": metrics_url(settings)})
    try:
        event_loop.run(_serve(settings), settings.event_loop)
    except Exception as exc:  # already logged as critical by the worker; exit non-zero without a traceback
        log.critical("worker exiting", extra={"error": f"{type(exc).__name__}: {exc}"})
        sys.exit(1)
    log.info("worker exited cleanly")


if __name__ == "__main__":
    main()
