"""Prometheus metrics of the gateway (exposed on its own `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "jiesu_gateway_requests_total",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "jiesu_gateway_request_seconds",
    "Time from a request's arrival to the end of its response, by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("jiesu_gateway_in_flight_requests", "HTTP requests being handled right now")
REJECTIONS = Counter("jiesu_gateway_rejections_total", "Refused submissions by reason", ["reason"])
ACCEPTED = Counter("jiesu_gateway_accepted_total", "Submissions acknowledged by the bus", ["channel"])
PRODUCE_SECONDS = Histogram(
    "jiesu_gateway_produce_seconds",
    "Time from send to the bus's acknowledgement",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
URGENT_LANE = Counter(
    "jiesu_gateway_urgent_lane_total",
    "Submissions the urgency screen flagged, by the situation it saw: `lane` took the urgent lane, "
    "`over_budget` the normal one because the situation's lane budget was spent",
    ["outcome", "situation"],
)
WORKERS_STOPPED = Gauge(
    "jiesu_gateway_workers_stopped",
    "Worker lanes stopped by the dead-letter cap and not resumed since (table worker_stops), as the "
    "gateway last read it: on each /readyz and each scrape of /metrics",
)
TIMED_OUT = Counter(
    "jiesu_gateway_connections_timed_out_total",
    "Connections closed because the request's headers or body did not arrive in time (app/connections.py)",
    ["stage"],
)
