"""Prometheus metrics of the reports worker (`python -m workers.rollups` serves them on
JIESU_WORKER_METRICS_PORT; in `make run` the gateway's /metrics has them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

COUNTED = Counter("jiesu_rollups_tickets_counted_total", "Processed tickets added to the rollups")
REPEATS = Counter(
    "jiesu_rollups_repeats_total", "Processed-ticket events not counted because the ticket already was"
)
BAD_EVENTS = Counter(
    "jiesu_rollups_bad_events_total", "Events on complaints.events the rollups could not read"
)
TRANSIENT = Counter("jiesu_rollups_transient_failures_total", "Rollup batches retried after a failure")
ALERTS = Counter("jiesu_alerts_raised_total", "Alerts published on complaints.alerts", ["kind"])
BRIEFS = Counter("jiesu_reports_briefs_published_total", "Hourly briefs published on complaints.reports")
LAST_APPLIED = Gauge(
    "jiesu_rollups_last_applied_timestamp_seconds", "When the rollups last took a batch or found none"
)
LAG = Gauge("jiesu_rollups_consumer_lag", "Events on this reports worker's partitions not yet counted")
