"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from app.deps import ResourcesDep
from app.metrics import WORKERS_STOPPED
from app.problems import problem
from ingest.worker_stops import OPEN_STOPS

router = APIRouter(tags=["operations"])
log = logging.getLogger("jiesu.gateway")


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    """Always ok while the event loop runs."""
    return {"status": "ok"}


async def _open_stops(resources: ResourcesDep) -> tuple[bool, list[dict[str, str]] | None]:
    """Whether the database answers, and the worker stops not resumed yet (ingest/worker_stops.py); the stops
    are None when they cannot be read (no database, or one not migrated to 0009 yet)."""
    try:
        async with asyncio.timeout(2), resources.engine.connect() as conn:
            try:
                rows = (await conn.execute(text(OPEN_STOPS))).mappings().all()
            except ProgrammingError:
                # A gateway deployed before its migration: the database answers, the stops are unknown.
                log.warning("worker_stops not readable: apply the migrations (make migrate)")
                return True, None
    except Exception:  # any failure means not ready; the reason is in the database's own log
        return False, None
    WORKERS_STOPPED.set(len(rows))
    return True, [
        {
            "lane": row["lane"],
            "worker": row["worker"],
            "reason": row["reason"],
            "stopped_at": row["stopped_at"].isoformat(),
        }
        for row in rows
    ]


@router.get(
    "/readyz",
    summary="The bus and the database answer, and no worker is stopped",
    responses={503: {"description": "Not ready"}},
)
async def readyz(resources: ResourcesDep) -> Any:
    """200 when the bus and the database both answer and no worker lane is stopped by the dead-letter cap,
    else 503 naming what is wrong (a stopped lane with its worker, reason and time)."""
    database, stops = await _open_stops(resources)
    checks = {"bus": await resources.producer.ready(), "database": database}
    if stops is not None:
        # Accepting goes on while a worker is stopped, but nothing accepted is processed: not ready.
        checks["workers"] = not stops
    if all(checks.values()):
        settings = resources.settings
        if settings.allow_open and settings.open_to and not settings.loopback_only:
            # Reachable beyond this machine without keys: the operator chose it, and monitoring sees it.
            return {"status": "ready", "checks": checks, "open_to": settings.open_to}
        return {"status": "ready", "checks": checks}
    down = [name for name in ("bus", "database") if not checks[name]]
    why = [f"unreachable: {', '.join(down)}"] if down else []
    if stops:
        lanes = ", ".join(sorted({stop["lane"] for stop in stops}))
        why.append(f"stopped by the dead-letter cap: {lanes} lane")
    extra: dict[str, Any] = {"checks": checks}
    if stops:
        extra["stopped_workers"] = stops
    return problem(503, "Not ready", "; ".join(why), headers={"Retry-After": "2"}, **extra)


@router.get("/metrics", include_in_schema=False)
async def metrics(resources: ResourcesDep) -> Response:
    """Prometheus exposition (the stopped-worker gauge read fresh from the database first)."""
    await _open_stops(resources)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
