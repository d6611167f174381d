"""`python -m app`: the gateway alone, on the Kafka and Postgres the settings name."""

from __future__ import annotations

import sys

import uvicorn

from app.main import create_app
from ingest.logs import configure_logging
from ingest.settings import get_settings


def main() -> None:
    """Serve the gateway with uvicorn."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if settings.embedded_bus:
        sys.exit(
            "KAFKA_BOOTSTRAP_SERVERS is not set: `python -m app` needs Kafka "
            "(run `make services` and source .data/services.env), "
            "or run `python -m jiesu` for the embedded pipeline"
        )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
