"""`python -m workers`: one intake worker process on the Kafka and Postgres the settings name.

Run several for more throughput; they share the consumer group and split the intake partitions.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from ingest.logs import configure_logging
from ingest.settings import get_settings
from workers.consumer import running_worker


async def _serve() -> None:
    settings = get_settings()
    async with running_worker(settings) as worker:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.finished()


def main() -> None:
    """Run one worker until SIGTERM/SIGINT; the batch in hand is finished and committed first."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if settings.embedded_bus:
        sys.exit("KAFKA_BOOTSTRAP_SERVERS is not set: `python -m workers` needs Kafka (see `make services`)")
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
