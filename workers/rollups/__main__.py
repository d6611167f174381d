"""`python -m workers.rollups`: the reports worker on the Kafka and Postgres the settings name.

One is enough for a hotline (counting is cheap); a second shares the consumer group and the work, and the
alerts and briefs are still published once each. SIGTERM or SIGINT stops it after the batch in hand; an
invalid setting prints one line and exits 78.
"""

from __future__ import annotations

import logging
import sys

from ingest.logs import configure_logging
from ingest.settings import EXIT_MISCONFIGURED, settings_or_exit
from workers.metrics import serve
from workers.process import run_or_exit, serve_until_signal
from workers.rollups.worker import running_reports

log = logging.getLogger("jiesu.rollups")


def main() -> None:
    """Run the reports worker until SIGTERM/SIGINT."""
    settings = settings_or_exit("python -m workers.rollups")
    configure_logging(settings.log_level)
    if settings.embedded_bus:
        print(
            "python -m workers.rollups: KAFKA_BOOTSTRAP_SERVERS is not set: it needs Kafka (make services)",
            file=sys.stderr,
        )
        sys.exit(EXIT_MISCONFIGURED)
    if settings.worker_metrics_port:
        try:
            serve(settings.worker_metrics_port, settings.host)
        except OSError as exc:
            where = f"JIESU_WORKER_METRICS_PORT={settings.worker_metrics_port} on {settings.host}"
            print(f"python -m workers.rollups: {where}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            sys.exit(EXIT_MISCONFIGURED)
    run_or_exit(serve_until_signal(running_reports(settings)), settings.event_loop, log, "reports worker")


if __name__ == "__main__":
    main()
