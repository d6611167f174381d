"""`python -m loadtest.surge` judges a run from the simulator's report: stored once, and drained in time."""

from __future__ import annotations

import os
import time
from typing import Any

from loadtest.bench import cpu
from loadtest.surge import build_parser, summarise


def _report(missing: int, duplicates: int, drained: bool, drain_s: float) -> dict[str, Any]:
    return {
        "ground_truth": {"messages": 1000, "requests": 1030, "expected_tickets": 990},
        "sent": 1030,
        "accepted": 1020,
        "rejected_4xx": 10,
        "errors_5xx": 0,
        "timeouts": 0,
        "not_sent": 0,
        "offered_rps": 100.0,
        "accepted_rps": 99.0,
        "latency_ms": {"p50": 5.0, "p90": 9.0, "p99": 20.0, "p999": 40.0, "max": 60.0},
        "reconciliation": {
            "accepted": 990,
            "stored": 990 - missing,
            "missing": missing,
            "duplicate_rows": duplicates,
            "drained": drained,
            "drain_s": drain_s,
        },
    }


def test_a_run_passes_only_when_every_ticket_is_stored_once_within_the_lag_budget() -> None:
    args = build_parser().parse_args(["--lag-budget", "120"])
    good = summarise(_report(0, 0, True, 45.0), args, {})
    assert good["drained_within_budget"] is True and good["met"] is True
    unsent = _report(0, 0, True, 45.0) | {"not_sent": 5}
    assert summarise(unsent, args, {})["met"] is False
    failing = _report(0, 0, True, 45.0) | {"errors_5xx": 20}
    assert summarise(failing, args, {})["day_offered"] is False
    late = summarise(_report(0, 0, True, 121.0), args, {})
    assert late["stored_exactly_once"] is True and late["drained_within_budget"] is False
    for bad in (_report(1, 0, False, 900.0), _report(0, 2, True, 3.0)):
        figures = summarise(bad, args, {})
        assert figures["stored_exactly_once"] is False and figures["drained_within_budget"] is False
    assert summarise(_report(0, 0, True, 1.0), args, {})["latency_ms"]["p999"] == 40.0


def test_the_urgent_lane_s_section_goes_into_the_surge_figures() -> None:
    args = build_parser().parse_args(["--urgent-share", "0.01"])
    assert args.urgent_share == 0.01
    lane = {"count": 12, "recall": 0.9167, "e2e_p99_s": 1.5, "missing_on_urgent": 1}
    assert summarise(_report(0, 0, True, 1.0) | {"urgent": lane}, args, {})["urgent"] == lane
    assert summarise(_report(0, 0, True, 1.0), args, {})["urgent"] is None  # a report from before the lane


def test_the_headline_and_the_server_side_go_into_the_surge_figures_with_the_html_report() -> None:
    args = build_parser().parse_args(["--out", "/tmp/x/surge.json"])
    headline = {"responses_202": 1020, "tickets": 990, "burst_largest_share": 0.96}
    summary = {"lag_max": {"normal": 2694, "urgent": 48}, "cpu_mean_pct": {"gateway": 10.7}}
    figures = summarise(
        _report(0, 0, True, 1.0) | {"headline": headline, "server": {"summary": summary}}, args, {}
    )
    assert figures["headline"] == headline and figures["server"] == summary
    assert figures["html_report"] == "/tmp/x/surge/report.html"
    assert summarise(_report(0, 0, True, 1.0), args, {})["server"] is None  # a run without the watch


def test_cpu_shares_split_the_machine_busy_time_without_counting_anything_twice() -> None:
    before = cpu.CpuSnapshot(machine=100.0, kafka=10.0, postgres=5.0)
    after = cpu.CpuSnapshot(machine=160.0, kafka=18.0, postgres=17.0)
    figures = cpu.shares(before, after, {"gateway": 15.0, "worker0": 12.0})
    assert figures == {
        "gateway": 15.0,
        "worker0": 12.0,
        "kafka": 8.0,
        "postgres": 12.0,
        "other": 13.0,
        "machine_busy": 60.0,
    }


def test_this_process_cpu_and_the_machine_busy_time_grow_with_work() -> None:
    start_own, start_machine = cpu.process_seconds(os.getpid()), cpu.machine_busy_seconds()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert cpu.process_seconds(os.getpid()) - start_own >= 0.2
    assert cpu.machine_busy_seconds() - start_machine >= 0.2
