"""Prometheus metrics of the gateway."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("jiesu_gateway_requests_total", "HTTP requests by route and status", ["route", "status"])
REJECTIONS = Counter("jiesu_gateway_rejections_total", "Refused submissions by reason", ["reason"])
ACCEPTED = Counter("jiesu_gateway_accepted_total", "Submissions acknowledged by the bus", ["channel"])
PRODUCE_SECONDS = Histogram(
    "jiesu_gateway_produce_seconds",
    "Time from send to the bus's acknowledgement",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
