"""`python -m jiesu`: the whole pipeline in one process — gateway, worker, reports worker, in-process bus — on
local Postgres.

With KAFKA_BOOTSTRAP_SERVERS set, the gateway and the worker use Kafka instead of the in-process bus.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.__main__ import refuse_open_beyond_loopback, serve
from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.logs import configure_logging
from ingest.settings import settings_or_exit
from workers.consumer import running_worker
from workers.rollups.worker import running_reports

log = logging.getLogger("jiesu")


def main() -> None:
    """Serve the gateway with a worker running beside it."""
    settings = settings_or_exit("python -m jiesu")
    configure_logging(settings.log_level)
    refuse_open_beyond_loopback(settings)
    broker = in_process_broker(settings) if settings.embedded_bus else None

    @asynccontextmanager
    async def worker() -> AsyncIterator[object]:
        async with running_worker(settings, broker) as running:
            yield running

    @asynccontextmanager
    async def reports() -> AsyncIterator[object]:
        async with running_reports(settings, broker) as running:
            yield running

    app = create_app(settings, broker=broker, companions=[worker, reports])
    where = "embedded in-process bus" if broker else f"Kafka at {settings.kafka_bootstrap_servers}"
    log.info("jiesu pipeline starting", extra={"bus": where, "database": settings.database_url_for_logs})
    serve(app, settings, graceful_shutdown_s=None)


if __name__ == "__main__":
    main()
