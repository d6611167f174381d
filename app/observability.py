"""Per-request metrics and the access log, as plain ASGI middleware (not BaseHTTPMiddleware: it is slow).

Every HTTP request counts once in `jiesu_gateway_requests_total{method, route, status}` and
`jiesu_gateway_request_seconds{method, route}`, and is in `jiesu_gateway_in_flight_requests` while it runs
(all but the scrape of `/metrics` itself, which would otherwise always read the gauge as at least 1).
`route` is the matched route's template (`/v1/complaints/{ticket_id}`), never the raw path, so junk paths
cannot blow up the series count: unmatched paths share the route `(unmatched)`. Each request also writes one
JSON access-log line, with the ticket id when there is one (from the path, or from a small JSON response).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import IN_FLIGHT, REQUEST_SECONDS, REQUESTS

access_log = logging.getLogger("jiesu.gateway.access")

UNMATCHED = "(unmatched)"
# Prometheus's scrape of the gateway (app/routes/health.py).
METRICS_PATH = "/metrics"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Responses up to this size are read for a ticket id (a 202 is ~100 bytes); bigger ones are not looked at.
_SNIFF_LIMIT = 4096


def telemetry(enabled: bool) -> TelemetryConfig:
    """FastAPI's native OpenTelemetry configuration: on (its defaults) or wholly off.

    Off, FastAPI skips it at one dictionary lookup per request; left at its defaults without any OpenTelemetry
    provider configured, it looks the three global providers up (environment variables included) on every
    request, a visible share of a submission's CPU for nothing (docs/performance.md, "Gateway").
    """
    if enabled:
        return {}
    return {"tracing": False, "metrics": False, "logs": False}


def route_of(scope: Scope) -> str:
    """The template of the route the router matched for this request, or `(unmatched)`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _ticket_id(scope: Scope, body: bytes | None) -> str | None:
    params = scope.get("path_params") or {}
    if isinstance(params.get("ticket_id"), str):
        return str(params["ticket_id"])
    if not body:
        return None
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    found = parsed.get("ticket_id") if isinstance(parsed, dict) else None
    return found if isinstance(found, str) else None


class MetricsMiddleware:
    """Counts, times and logs every HTTP request; other ASGI traffic (lifespan) passes straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The labelled series, looked up once each: `labels()` takes a lock and checks its arguments on
        # every call. Bounded: methods, route templates and statuses are each a small set.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        series = self._series.get((method, route, status))
        if series is None:
            series = (
                REQUESTS.labels(method=method, route=route, status=str(status)),
                REQUEST_SECONDS.labels(method=method, route=route),
            )
            self._series[(method, route, status)] = series
        series[0].inc()
        series[1].observe(elapsed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before starting a response
        logging_on = access_log.isEnabledFor(logging.INFO)
        sniff: bytearray | None = None

        async def send_and_watch(message: Message) -> None:
            nonlocal status, sniff
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # The body is read for a ticket id only when there is a log line to put it in.
                if logging_on and 200 <= status < 300:
                    headers = dict(message.get("headers") or [])
                    if headers.get(b"content-type", b"").startswith(b"application/json"):
                        sniff = bytearray()
            elif message["type"] == "http.response.body" and sniff is not None:
                sniff += message.get("body", b"")
                if len(sniff) > _SNIFF_LIMIT:
                    sniff = None
            await send(message)

        # The scrape is not in flight: otherwise every scrape would read the gauge as at least 1.
        counted = scope.get("path") != METRICS_PATH
        if counted:
            IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            if counted:
                IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            method = method if method in _METHODS else "OTHER"
            route = route_of(scope)
            self._observe(method, route, status, elapsed)
            if logging_on:
                fields: dict[str, object] = {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                }
                ticket_id = _ticket_id(scope, bytes(sniff) if sniff is not None else None)
                if ticket_id:
                    fields["ticket_id"] = ticket_id[:80]
                access_log.info("request", extra=fields)
