"""The simulator ties in with the hourly brief (issue 17, item 7), on a small slice of the surge day: the
gateway, one worker and the reports worker on the real Kafka and Postgres; the burst's half hour replayed
20× faster. After the drain, the brief of the burst's hour must show the burst's incident as the top rising
one, and the alerts raised about the run's hours must be in the run's report (JSON and HTML).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ingest.settings import Settings
from loadtest.plan import PlanSpec
from loadtest.runner import run
from tests.integration.helpers import free_port, pipeline_processes, stack_run_config

BURST_AT_S = 19.5 * 3600  # the surge profile's burst
KEY = "loadtest-brief-key-0123456789"


@pytest.mark.timeout(400)
async def test_the_brief_of_the_burst_hour_tops_the_burst_and_the_report_lists_the_alerts(
    stack_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    cfg = stack_run_config(
        stack_settings,
        port,
        tmp_path / "report.json",
        PlanSpec(
            profile="surge-day",
            scale=0.002,
            compression=20,
            burst_messages=80,
            window=(BURST_AT_S - 60, BURST_AT_S + 900),
            seed=17,
        ),
        concurrency=32,
        drain_timeout_s=120,
        stall_s=60,
        brief=True,
        downstream_key=KEY,
        brief_timeout_s=90,
    )
    env = {"JIESU_DOWNSTREAM_KEYS": f"loadtest:{KEY}", "JIESU_ALERT_INTERVAL_S": "2"}
    with pipeline_processes(stack_settings, port, workers=1, reports=True, extra_env=env) as procs:
        report = await run(cfg)
        assert all(proc.poll() is None for proc in procs), "a process died under load"

    assert report["reconciliation"]["missing"] == 0
    brief = report["brief"]
    assert brief["counted"] >= brief["stored"] == report["reconciliation"]["stored"], brief["notes"]
    burst = report["dedupe"]["burst"]
    assert brief["burst_incident"] == burst["largest_incident_id"] is not None
    assert brief["top_rising"]["incident_id"] == brief["burst_incident"], brief
    assert brief["burst_top_rising"] is True and report["checks"]["burst_top_rising_in_brief"] is True
    # The burst's growth within its hour is far past the incident-growth threshold (40): it raised an alert,
    # listed with the others in the report.
    assert burst["largest_incident"] >= 40, burst
    assert brief["burst_alert"] is not None and brief["burst_alert"]["kind"] in (
        "incident_growth",
        "incident_size",
    )
    assert brief["burst_alert"] in [
        {**a, "after_burst_start_s": brief["burst_alert"]["after_burst_start_s"]} for a in brief["alerts"]
    ]
    on_disk = orjson.loads(cfg.report.read_bytes())
    assert on_disk["brief"]["alerts"] == brief["alerts"]
    html = cfg.report.with_suffix(".html").read_text(encoding="utf-8")
    assert 'id="brief"' in html and brief["alerts"][0]["message"] in html
