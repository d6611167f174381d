"""`python -m app`: the gateway alone, on the Kafka and Postgres the settings name."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from app.main import create_app
from ingest.gc_tuning import tune_gc
from ingest.logs import configure_logging
from ingest.settings import EXIT_MISCONFIGURED, Settings, settings_or_exit


def exit_zero_after_drain(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler: after uvicorn has drained, exit 0 instead of re-raising the signal."""
    # uvicorn drains on SIGTERM, then raises the signal again so that the exit status says "killed by
    # SIGTERM" (143). A drained gateway has exited cleanly: supervisors and the chaos tests expect 0.
    raise SystemExit(0)


def main() -> None:
    """Serve the gateway with uvicorn; SIGTERM answers the requests in hand, then exits 0."""
    settings = settings_or_exit("python -m app")
    configure_logging(settings.log_level)
    if settings.embedded_bus:
        print(
            "python -m app: KAFKA_BOOTSTRAP_SERVERS is not set: the gateway needs Kafka "
            "(run `make services` and source .data/services.env), "
            "or run `python -m jiesu` for the embedded pipeline",
            file=sys.stderr,
        )
        sys.exit(EXIT_MISCONFIGURED)
    serve(create_app(settings), settings, graceful_shutdown_s=10)


def serve(app: FastAPI, settings: Settings, *, graceful_shutdown_s: int | None) -> None:
    """Run `app` under uvicorn as the gateway and the embedded pipeline both do: SIGTERM drains and exits 0,
    the start-up heap is frozen (ingest/gc_tuning.py), no access log; `graceful_shutdown_s` bounds the
    drain (None: wait for every request in hand)."""
    signal.signal(signal.SIGTERM, exit_zero_after_drain)
    tune_gc(settings.gc_tuning)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=graceful_shutdown_s,
        loop=settings.event_loop,
    )


if __name__ == "__main__":
    main()
