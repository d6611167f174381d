"""`python -m workers.rollups`: the reports worker on the Kafka and Postgres the settings name.

One is enough for a hotline (counting is cheap); a second shares the consumer group and the work, and the
alerts and briefs are still published once each. SIGTERM or SIGINT stops it after the batch in hand; an
invalid setting prints one line and exits 78.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from ingest import event_loop
from ingest.logs import configure_logging
from ingest.settings import EXIT_MISCONFIGURED, Settings, settings_or_exit
from workers.rollups.worker import running_reports

log = logging.getLogger("jiesu.rollups")


async def _serve(settings: Settings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    async with running_reports(settings) as worker:
        stop = asyncio.create_task(stopping.wait())
        done = asyncio.create_task(worker.finished())
        done.add_done_callback(lambda task: task.cancelled() or task.exception())
        await asyncio.wait({stop, done}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        worker.stop()


def main() -> None:
    """Run the reports worker until SIGTERM/SIGINT."""
    settings = settings_or_exit("python -m workers.rollups")
    configure_logging(settings.log_level)
    if settings.embedded_bus:
        print(
            "python -m workers.rollups: KAFKA_BOOTSTRAP_SERVERS is not set: it needs Kafka (make services)",
            file=sys.stderr,
        )
        sys.exit(EXIT_MISCONFIGURED)
    try:
        event_loop.run(_serve(settings), settings.event_loop)
    except Exception as exc:  # already logged as critical; exit non-zero without a traceback
        log.critical("reports worker exiting", extra={"error": f"{type(exc).__name__}: {exc}"})
        sys.exit(1)
    log.info("reports worker exited cleanly")


if __name__ == "__main__":
    main()
