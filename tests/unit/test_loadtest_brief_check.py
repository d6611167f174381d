"""The simulator's check of the hourly brief, on briefs made up here (the real run: tests/integration/
test_loadtest_brief.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from loadtest import brief_check
from loadtest.plan import PlanSpec, build_plan

BURST_AT_S = 19.5 * 3600
START = datetime(2026, 12, 7, 21, 10, tzinfo=UTC).timestamp()


def _run(compression: float = 20.0) -> brief_check.Run:
    plan = build_plan(
        PlanSpec(
            profile="surge-day",
            scale=0.002,
            compression=compression,
            burst_messages=40,
            window=(BURST_AT_S - 60, BURST_AT_S + 900),
            seed=1,
        )
    )
    return brief_check.Run(plan, START, START + 120, stored=60, burst_incident="inc-burst")


def _brief(rising: list[str], alerts: list[dict[str, Any]], tickets: int = 60) -> dict[str, Any]:
    return {
        "total": {"tickets": tickets},
        "rising_incidents": [
            {"incident_id": i, "title": "t", "place": "p", "growth": 10 - n, "size": 20}
            for n, i in enumerate(rising)
        ],
        "alerts": alerts,
    }


def _alert(incident: str, raised: str) -> dict[str, Any]:
    return {
        "alert_id": f"incident_growth:x:{incident}",
        "kind": "incident_growth",
        "hour": "2026-12-07T21:00:00Z",
        "raised_at": raised,
        "subject": {"incident_id": incident},
        "observed": 40,
        "message": "m",
    }


def test_the_burst_tops_its_hour_and_its_alert_is_timed_from_the_burst_start() -> None:
    run = _run()
    start = brief_check.burst_start(run)
    assert start is not None and START < start < START + 60
    raised = datetime.fromtimestamp(start + 25, UTC).isoformat()
    briefs = {"2026-12-07T21": _brief(["inc-burst", "inc-other"], [_alert("inc-burst", raised)])}
    found = brief_check.judge(run, briefs, waited_s=3.0)
    assert found["burst_hour"] == "2026-12-07T21" and found["burst_top_rising"] is True
    assert found["burst_alert"]["after_burst_start_s"] == 25.0
    report: dict[str, Any] = {"checks": {"missing_zero": True}, "warnings": [], "ok": True}
    brief_check.attach(report, found)
    assert report["checks"]["burst_top_rising_in_brief"] is True
    assert report["checks"]["burst_alert_within_60s"] is True and report["ok"] is True


def test_another_incident_on_top_or_a_late_alert_fails_the_checks_and_says_why() -> None:
    run = _run(compression=960)
    start = brief_check.burst_start(run)
    assert start is not None
    late = datetime.fromtimestamp(start + 90, UTC).isoformat()
    briefs = {
        h: _brief(["inc-other", "inc-burst"], [_alert("inc-burst", late)], 30) for h in ("2026-12-07T21",)
    }
    found = brief_check.judge(run, briefs, waited_s=3.0)
    assert found["burst_top_rising"] is False and found["top_rising"]["incident_id"] == "inc-other"
    assert any("960" in n for n in found["notes"])  # the compression, named as the likely cause
    assert any("lag" in n for n in found["notes"])  # 30 counted of 60 stored
    report: dict[str, Any] = {"checks": {}, "warnings": [], "ok": True}
    brief_check.attach(report, found)
    assert report["checks"] == {"burst_top_rising_in_brief": False, "burst_alert_within_60s": False}
    assert report["ok"] is False and report["warnings"]


def test_briefs_that_cannot_be_read_leave_the_checks_unmade() -> None:
    report: dict[str, Any] = {"checks": {}, "warnings": [], "ok": True}
    brief_check.attach(report, brief_check.unread("GET /v1/reports/brief answered 401"))
    assert report["checks"] == {"burst_top_rising_in_brief": None, "burst_alert_within_60s": None}
    assert report["ok"] is True and "401" in report["warnings"][0]
