"""The dashboard's files and the day's hours, without a database or a browser (the page itself is tested in
chromium: tests/integration/test_dashboard.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.routes import dashboard
from ingest.reports.day import day_hours
from ingest.reports.hours import NotWholeHour
from tests.api_support import bearer, gateway, settings

KEY = "duty-office-dashboard-key-0123"


async def test_the_page_and_its_files_need_no_key_and_let_no_other_script_run() -> None:
    """They carry no data, so they are served without a key, under a policy that runs the gateway's own
    scripts only; the data routes still want the key."""
    async with gateway(settings(downstream_keys=f"duty:{KEY}")) as (http, _, _):
        page = await http.get("/dashboard")
        script = await http.get("/dashboard/dashboard.js")
        style = await http.get("/dashboard/dashboard.css")
        data = await http.get("/v1/reports/day")
        wrong = await http.get("/v1/reports/day", headers=bearer("not-the-key-0123456789"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/dashboard/vendor/echarts.min.js"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert data.status_code == 401 and wrong.status_code == 401


async def test_a_missing_chart_library_is_a_503_naming_the_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("JIESU_DASHBOARD_DIR", str(tmp_path))
    async with gateway(settings()) as (http, _, _):
        resp = await http.get("/dashboard/vendor/echarts.min.js")
    assert resp.status_code == 503
    assert "make dashboard" in resp.json()["detail"]
    assert str(dashboard.echarts_path()).startswith(str(tmp_path))


def test_a_day_is_its_local_hours_midnight_to_midnight() -> None:
    hours = day_hours(date(2026, 12, 7), ZoneInfo("Asia/Shanghai"))
    assert len(hours) == 24
    assert hours[0].start == datetime(2026, 12, 6, 16, tzinfo=UTC)
    assert [h.local.hour for h in hours] == list(range(24))
    # A DST day has 23 hours; a zone half an hour off UTC cannot be read from UTC-hour rollups.
    assert len(day_hours(date(2026, 3, 8), ZoneInfo("America/New_York"))) == 23
    with pytest.raises(NotWholeHour):
        day_hours(date(2026, 12, 7), ZoneInfo("Asia/Kolkata"))
