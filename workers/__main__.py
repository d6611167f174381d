"""`python -m workers`: one intake worker process on the Kafka and Postgres the settings name.

Run several for more throughput; they share the consumer group and split the intake partitions.
SIGTERM or SIGINT drains: the batch in hand is finished and committed, then the process exits 0. A worker that
stops on its own (an unknown error, a dead-letter flood) exits 1; one that cannot start as configured (an
invalid setting, a metrics port already taken) prints one line naming the setting and exits 78.
"""

from __future__ import annotations

import logging

from ingest.gc_tuning import tune_gc
from ingest.logs import configure_logging
from ingest.settings import settings_or_exit
from workers.consumer import metrics_url, running_worker
from workers.process import require_kafka, run_or_exit, serve_metrics_or_exit, serve_until_signal

log = logging.getLogger("jiesu.worker")


def main() -> None:
    """Run one worker until SIGTERM/SIGINT; the batch in hand is finished and committed first."""
    settings = settings_or_exit("python -m workers")
    configure_logging(settings.log_level)
    require_kafka(settings, "python -m workers")
    serve_metrics_or_exit(settings, "python -m workers")
    if settings.worker_metrics_port:
        log.info("worker metrics served", extra={"metrics": metrics_url(settings)})
    # After start-up, the garbage collector is tuned: the judgement model and the consumer are frozen out of
    # its way.
    served = serve_until_signal(running_worker(settings), lambda: tune_gc(settings.gc_tuning))
    run_or_exit(served, settings.event_loop, log, "worker")


if __name__ == "__main__":
    main()
