"""`python -m workers.rollups`: the reports worker on the Kafka and Postgres the settings name.

One is enough for a hotline (counting is cheap); a second shares the consumer group and the work, and the
alerts and briefs are still published once each. SIGTERM or SIGINT stops it after the batch in hand; an
invalid setting prints one line and exits 78.
"""

from __future__ import annotations

import logging

from ingest.logs import configure_logging
from ingest.settings import settings_or_exit
from workers.process import require_kafka, run_or_exit, serve_metrics_or_exit, serve_until_signal
from workers.rollups.worker import running_reports

log = logging.getLogger("jiesu.rollups")


def main() -> None:
    """Run the reports worker until SIGTERM/SIGINT."""
    settings = settings_or_exit("python -m workers.rollups")
    configure_logging(settings.log_level)
    require_kafka(settings, "python -m workers.rollups")
    serve_metrics_or_exit(settings, "python -m workers.rollups")
    run_or_exit(serve_until_signal(running_reports(settings)), settings.event_loop, log, "reports worker")


if __name__ == "__main__":
    main()
