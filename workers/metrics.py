"""Prometheus metrics of the workers."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BATCH_SIZE = Histogram(
    "jiesu_worker_batch_size",
    "Records per processed batch",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000),
)
BATCH_SECONDS = Histogram("jiesu_worker_batch_seconds", "Time to process one batch end to end")
STORED = Counter("jiesu_worker_tickets_stored_total", "Tickets newly stored")
REDELIVERED = Counter("jiesu_worker_redelivered_total", "Records whose ticket was already stored")
DEAD_LETTERS = Counter("jiesu_worker_dead_letters_total", "Records sent to the dead-letter topic", ["stage"])
TRANSIENT = Counter("jiesu_worker_transient_failures_total", "Batches retried after a transient failure")
DUPLICATES = Counter(
    "jiesu_worker_duplicates_total", "Tickets linked to an earlier ticket of the same citizen"
)
INCIDENTS = Counter("jiesu_worker_incidents_created_total", "Incidents opened")
LAG = Gauge("jiesu_worker_consumer_lag", "Records on assigned partitions not yet consumed")
