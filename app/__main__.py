"""`python -m app`: the gateway alone, on the Kafka and Postgres the settings name."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from app.connections import with_deadlines
from app.main import create_app
from ingest.gc_tuning import tune_gc
from ingest.logs import configure_logging
from ingest.settings import EXIT_MISCONFIGURED, Settings, settings_or_exit

log = logging.getLogger("jiesu.gateway")


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
    refuse_open_beyond_loopback(settings)
    serve(create_app(settings), settings, graceful_shutdown_s=10)


def refuse_open_beyond_loopback(settings: Settings) -> None:
    """Exit 78 naming what is missing when the gateway would listen beyond loopback without its keys and
    secret, unless JIESU_ALLOW_OPEN says to; on loopback (make run) it stays open for trying it out."""
    gaps = settings.open_to
    if not gaps or settings.loopback_only:
        return
    where = f"{settings.host}:{settings.port}"
    if settings.allow_open:
        log.warning("gateway on %s is OPEN (JIESU_ALLOW_OPEN): %s", where, "; ".join(gaps))
        return
    print(
        f"gateway: refusing to listen on {where} (beyond loopback) without: {'; '.join(gaps)}. "
        "Set them, listen on 127.0.0.1, or set JIESU_ALLOW_OPEN=true for a trial on a private network",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(EXIT_MISCONFIGURED)


def serve(app: FastAPI, settings: Settings, *, graceful_shutdown_s: int | None) -> None:
    """Run `app` under uvicorn as the gateway and the embedded pipeline both do: SIGTERM drains and exits 0,
    the start-up heap is frozen (ingest/gc_tuning.py), no access log, the connection limits;
    `graceful_shutdown_s` bounds the drain (None: wait for every request in hand)."""
    signal.signal(signal.SIGTERM, exit_zero_after_drain)
    tune_gc(settings.gc_tuning)
    uvicorn.run(app, **server_options(settings, graceful_shutdown_s))


def server_options(settings: Settings, graceful_shutdown_s: int | None) -> dict[str, Any]:
    """uvicorn's options for the gateway: address, loop, and the connection limits (app/connections.py)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": graceful_shutdown_s,
        "loop": settings.event_loop,
        "http": with_deadlines(settings.header_timeout_s, settings.body_timeout_s),
        "limit_concurrency": settings.max_connections,
    }


if __name__ == "__main__":
    main()
