"""The simulator against the real stack, then reconciliation.

`python -m app` and one `python -m workers` process on the real Kafka and Postgres; 300 messages at a
constant rate with retries, resubmissions, invalid ones and labelled urgent ones (the unit tests' small
corpus), whose tickets are looked for on complaints.urgent.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ingest.settings import Settings
from loadtest.plan import PlanSpec
from loadtest.runner import run
from tests.integration.helpers import free_port, pipeline_processes, stack_run_config


@pytest.mark.timeout(180)
async def test_simulator_run_loses_nothing_and_reports_it(stack_settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    cfg = stack_run_config(
        stack_settings,
        port,
        tmp_path / "report.json",
        PlanSpec(
            profile="constant",
            rate=100,
            messages=300,
            retry_share=0.05,
            resubmit_share=0.03,
            invalid_share=0.03,
            urgent_share=0.02,
            seed=6,
        ),
        urgent_corpus=Path(__file__).parent.parent / "unit" / "fixtures" / "urgency",
        concurrency=64,
        drain_timeout_s=60,
        stall_s=30,
    )
    with pipeline_processes(stack_settings, port, workers=1) as procs:
        report = await run(cfg)
        assert all(proc.poll() is None for proc in procs), "a process died under load"

    truth = report["ground_truth"]
    assert report["sent"] == truth["requests"] == 300 + truth["by_kind"]["retry"]
    rec = report["reconciliation"]
    assert rec["missing"] == 0 and rec["duplicate_rows"] == 0
    assert rec["accepted"] == rec["stored"] == rec["ticket_keys"] == truth["expected_tickets"]
    assert report["rejected_4xx"] == truth["by_kind"]["invalid"]
    dd = report["dedupe"]
    assert dd["client_retries"]["same_ticket"] == truth["by_kind"]["retry"]
    assert dd["client_retries"]["different_ticket"] == 0
    assert report["e2e_latency_ms"]["source"] == "kafka-events"
    assert report["e2e_latency_ms"]["count"] == rec["accepted"]
    assert report["latency_ms"]["p99"] is not None
    assert report["ok"] is True, report["checks"]
    # Whatever the model decides: every labelled ticket was judged, and is on the urgent topic or missing.
    lane, labelled = report["urgent"], truth["labelled"]
    assert lane["count"] == labelled["critical"] + labelled["high"] == 6 and lane["hard_negatives"] == 6
    assert lane["urgency_unknown"] == 0 and lane["on_urgent"] + lane["missing_on_urgent"] == lane["count"]
    # The server side was watched: both lanes' lag read from the broker, the gateway's CPU.
    server = report["server"]
    assert server["samples"] >= 2 and set(server["lag"]) == {"normal", "urgent"}
    assert server["summary"]["lag_max"]["normal"] is not None and server["summary"]["lag_max"]["normal"] >= 0
    assert server["summary"]["lag_at_end"]["normal"] is not None
    assert server["summary"]["cpu_mean_pct"]["gateway"] is not None
    assert (
        report["headline"]["tickets"] == rec["accepted"] and report["headline"]["drain_s"] == rec["drain_s"]
    )
    on_disk = orjson.loads(cfg.report.read_bytes())
    assert on_disk["reconciliation"]["missing"] == 0
    assert "<svg" in cfg.report.with_suffix(".html").read_text(encoding="utf-8")
