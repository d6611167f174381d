"""`python -m app`: the gateway alone, on the Kafka and Postgres the settings name."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import uvicorn

from app.main import create_app
from ingest.logs import configure_logging
from ingest.settings import get_settings


def _drained(signum: int, frame: FrameType | None) -> None:
    # uvicorn drains on SIGTERM, then raises the signal again so that the exit status says "killed by
    # SIGTERM" (143). A drained gateway has exited cleanly: supervisors and the chaos tests expect 0.
    raise SystemExit(0)


def main() -> None:
    """Serve the gateway with uvicorn; SIGTERM answers the requests in hand, then exits 0."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if settings.embedded_bus:
        sys.exit(
            "KAFKA_BOOTSTRAP_SERVERS is not set: `python -m app` needs Kafka "
            "(run `make services` and source .data/services.env), "
            "or run `python -m jiesu` for the embedded pipeline"
        )
    signal.signal(signal.SIGTERM, _drained)
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
