"""Prometheus metrics of the workers (served by `python -m workers` on JIESU_WORKER_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

BATCH_SIZE = Histogram(
    "jiesu_worker_batch_size",
    "Records per processed batch",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000),
)
BATCH_SECONDS = Histogram(
    "jiesu_worker_batch_seconds",
    "Time to process one batch end to end",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Grouping a bucket (a city) is serialised across workers by a transaction-scoped advisory lock: what one
# worker waits for is the other's grouping and commit. Their sums over a run say how much of the workers'
# time the lock costs (loadtest/bench/pipeline.py reports them as shares of the run).
_LOCK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BUCKET_LOCK_WAIT = Histogram(
    "jiesu_worker_bucket_lock_wait_seconds",
    "Time a batch waited for the advisory locks of its incident buckets",
    buckets=_LOCK_BUCKETS,
)
BUCKET_LOCK_HELD = Histogram(
    "jiesu_worker_bucket_lock_held_seconds",
    "Time a batch held its incident buckets' locks: from taking them to its transaction's commit",
    buckets=_LOCK_BUCKETS,
)
STORED = Counter("jiesu_worker_tickets_stored_total", "Tickets newly stored")
# An already-stored ticket comes again for one of two reasons, counted apart: Kafka delivered the same record
# again (a crash or a rebalance between storing and committing: the stored row's source partition and offset
# are this record's), or a client repeated a submission the pipeline had already taken (its retry with the
# same external_id or Idempotency-Key is another record, at another offset; also a repeat inside one batch).
REDELIVERED = Counter(
    "jiesu_worker_redelivered_total",
    "Records Kafka delivered again whose ticket this very record had already stored (crash or rebalance)",
)
LINKED_AFTER_URGENT = Counter(
    "jiesu_worker_linked_after_urgent_total",
    "Tickets the urgent lane stored and announced that the normal lane then linked to their incident",
)
CLIENT_REPEATS = Counter(
    "jiesu_worker_client_repeats_total",
    "Records repeating a ticket already stored, or already in their batch, from another record (a client's "
    "retry)",
)
DEAD_LETTERS = Counter("jiesu_worker_dead_letters_total", "Records sent to the dead-letter topic", ["stage"])
TRANSIENT = Counter("jiesu_worker_transient_failures_total", "Batches retried after a transient failure")
DUPLICATES = Counter(
    "jiesu_worker_duplicates_total", "Tickets linked to an earlier ticket of the same citizen"
)
INCIDENTS = Counter("jiesu_worker_incidents_created_total", "Incidents opened")
LATE_REPEATS = Counter(
    "jiesu_worker_repeats_linked_late_total",
    "Tickets that said they repeat an earlier one, linked when that one was grouped after them",
)
MERGED_INCIDENTS = Counter(
    "jiesu_worker_incidents_merged_total", "Incidents found to be part of another and merged into it"
)
LAG = Gauge("jiesu_worker_consumer_lag", "Records on assigned partitions not yet consumed")
URGENT_LAG = Gauge(
    "jiesu_worker_urgent_lane_lag", "Records on assigned partitions of the urgent lane not yet consumed"
)
SENTINEL_LAG = Gauge(
    "jiesu_worker_sentinel_lag",
    "Records on assigned partitions of complaints.intake that the urgent lane's sentinel has not read yet",
)
RESCREENED = Counter(
    "jiesu_worker_sentinel_rescreened_total",
    "Records of complaints.intake the sentinel judged urgent, by outcome: `lane` copied onto the urgent "
    "lane, `over_budget` left to the normal lane because the situation's lane budget was spent",
    ["outcome"],
)
SENTINEL_READ = Counter(
    "jiesu_worker_sentinel_read_total",
    "Records the gateway put on complaints.intake that the sentinel judged",
)
COMMITS = Counter("jiesu_worker_commits_total", "Batches whose offsets were committed")
COMMITS_LOST = Counter(
    "jiesu_worker_commits_lost_total", "Batches processed but not committed (a rebalance moved them)"
)
# Set whenever the loop makes progress: a batch committed, or an empty poll (nothing to do is progress too).
# A worker that is alive but stuck (retrying a batch, blocked) stops moving it.
LAST_PROGRESS = Gauge(
    "jiesu_worker_last_progress_timestamp_seconds", "Unix time the loop last committed or found nothing to do"
)
BATCH_LIMIT = Gauge(
    "jiesu_worker_batch_limit", "Most records the next batch may take (grows while the worker is behind)"
)
RETRYING = Gauge("jiesu_worker_retrying", "1 while the worker retries a batch after a transient failure")


def serve(port: int, host: str) -> None:
    """Expose the process's metrics on http://host:port/metrics (a background thread); 0 = off."""
    if port:
        start_http_server(port, addr=host)
