"""`python -m loadtest.bench.bare`: the bare endpoint the gateway is compared with.

The same framework (FastAPI), server (uvicorn) and server settings as `python -m app` (SERVER_SETTINGS mirrors
app/__main__.py: one process, uvloop and httptools picked by uvicorn's "auto", no access log, the same garbage
collector settings), and one route that reads the body and answers 202 with a small JSON body: no validation,
no Kafka.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response

from app.observability import telemetry
from ingest.gc_tuning import tune_gc

# What app/__main__.py passes to uvicorn.run, besides host and port.
SERVER_SETTINGS: dict[str, Any] = {"log_config": None, "access_log": False, "timeout_graceful_shutdown": 10}
_ACCEPTED = b'{"ticket_id":"JS0000000000000000","status_url":"/v1/complaints/JS0000000000000000"}'


def create_bare_app() -> FastAPI:
    """A FastAPI app with POST /v1/complaints that only reads the body, and GET /readyz."""
    # FastAPI's telemetry as the gateway's default (JIESU_FASTAPI_TELEMETRY=false): the same framework work.
    app = FastAPI(telemetry=telemetry(False))

    @app.post("/v1/complaints")
    async def bare(request: Request) -> Response:
        await request.body()
        return Response(_ACCEPTED, status_code=202, media_type="application/json")

    @app.get("/readyz")
    async def ready() -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the bare app on 127.0.0.1."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.bare")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = create_bare_app()
    tune_gc()  # as the gateway does
    uvicorn.run(app, host="127.0.0.1", port=args.port, **SERVER_SETTINGS)


if __name__ == "__main__":
    main()
