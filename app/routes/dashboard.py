"""The live operations page: `GET /dashboard` and the files it loads, all from the gateway (no CDN: government
intranets are offline).

The page holds no data: it reads the report routes with a downstream key that the user types in and that it
keeps in the tab's sessionStorage (app/dashboard/static/dashboard.js says why). So these routes need no key,
and a strict Content-Security-Policy keeps any script but these files out of the page that holds the key.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from app.problems import problem
from ingest.settings import REPO_ROOT

router = APIRouter(tags=["dashboard"], include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "dashboard" / "static"
# Only this origin's scripts, styles and requests; ECharts sets element styles from script, which needs
# 'unsafe-inline' for styles (never for scripts).
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


def echarts_path() -> Path:
    """Where scripts/dashboard_assets.sh installs the chart library (JIESU_DASHBOARD_DIR overrides)."""
    base = Path(os.environ.get("JIESU_DASHBOARD_DIR") or REPO_ROOT / ".data" / "dashboard")
    return base / "node_modules" / "echarts" / "dist" / "echarts.min.js"


@cache
def _static(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@router.get("/dashboard")
async def page() -> Response:
    """The page itself."""
    return Response(_static("index.html"), media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/dashboard/dashboard.js")
async def script() -> Response:
    """The page's script."""
    return Response(_static("dashboard.js"), media_type=MEDIA["js"], headers=HEADERS)


@router.get("/dashboard/dashboard.css")
async def style() -> Response:
    """The page's style."""
    return Response(_static("dashboard.css"), media_type=MEDIA["css"], headers=HEADERS)


@router.get("/dashboard/vendor/echarts.min.js")
async def echarts() -> Response:
    """Apache ECharts as npm installed it; 503 naming the command when it was not installed."""
    found = echarts_path()
    if not found.is_file():
        return problem(
            503,
            "Chart library not installed",
            f"{found} is missing: run `make dashboard` (scripts/dashboard_assets.sh) where the gateway runs",
        )
    return FileResponse(found, media_type=MEDIA["js"], headers={**HEADERS, "Cache-Control": "max-age=86400"})
