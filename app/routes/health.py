"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.deps import ResourcesDep
from app.problems import problem

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    """Always ok while the event loop runs."""
    return {"status": "ok"}


async def _database_ok(resources: ResourcesDep) -> bool:
    try:
        async with asyncio.timeout(2), resources.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means not ready; the reason is in the database's own log
        return False


@router.get(
    "/readyz", summary="The bus and the database answer", responses={503: {"description": "Not ready"}}
)
async def readyz(resources: ResourcesDep) -> Any:
    """200 when the bus and the database both answer, else 503 naming what does not."""
    checks = {"bus": await resources.producer.ready(), "database": await _database_ok(resources)}
    if all(checks.values()):
        settings = resources.settings
        if settings.allow_open and settings.open_to and not settings.loopback_only:
            # Reachable beyond this machine without keys: the operator chose it, and monitoring sees it.
            return {"status": "ready", "checks": checks, "open_to": settings.open_to}
        return {"status": "ready", "checks": checks}
    down = ", ".join(name for name, ok in checks.items() if not ok)
    return problem(503, "Not ready", f"unreachable: {down}", checks=checks, headers={"Retry-After": "2"})


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus exposition."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
