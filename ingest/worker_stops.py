"""The record of workers stopped by the dead-letter cap (table `worker_stops`, migration 0009).

A worker that stops itself exits, and with it its metrics: what it could not tell its own endpoint it writes
here, and every gateway's `/readyz` reads it (503 while a stop is open; `jiesu_gateway_workers_stopped`).
A Postgres row rather than a heartbeat: a heartbeat's absence cannot tell a stopped worker from one scaled
down on purpose, while this row is written only by the stop itself and stays until processing has resumed.
"""

from __future__ import annotations

# The open stops, newest first: what /readyz shows.
OPEN_STOPS = (
    "SELECT lane, worker, reason, stopped_at FROM worker_stops WHERE resumed_at IS NULL "
    "ORDER BY stopped_at DESC LIMIT 20"
)
RECORD_STOP = "INSERT INTO worker_stops (lane, worker, reason) VALUES ($1, $2, $3)"
# A lane's stops end when a worker that started after them commits a batch: a fresh start that works.
RESUME_LANE = (
    "UPDATE worker_stops SET resumed_at = now() WHERE lane = $1 AND resumed_at IS NULL AND stopped_at < $2"
)
# Bounded: the reason is the DeadLetterFlood message, but a row must never be refused for its length.
MAX_REASON = 1000
