"""The hourly brief and the alerts on the real stack: tickets through the pipeline, the brief's numbers
checked against what was sent, the detector's alerts on complaints.alerts."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from ingest.reports.hours import days_before, hour_of
from ingest.settings import Settings
from ingest.topics import ALERTS, topic_name
from tests.api_support import bearer
from tests.integration.helpers import fetchval, pipeline, read_topic, wait_until
from tests.integration.test_reports_rollups import burst_and_two_others, reports_settings
from workers.db import asyncpg_dsn

KEY = "leaders-dashboard-key-0123456789"
SHANGHAI = ZoneInfo("Asia/Shanghai")
BODIES = burst_and_two_others("brief", 6)


async def _seed(settings: Settings, rows: list[tuple[datetime, str, str, str, int]]) -> None:
    """Rollups of earlier hours, as the worker would have kept them."""
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        await conn.executemany("INSERT INTO rollup_hourly VALUES ($1, $2, $3, $4, $5, 0)", rows)
    finally:
        await conn.close()


async def _wait_for_a_fresh_hour() -> None:
    """Start with three minutes of the hour left at least, so that every ticket falls in one hour."""
    now = datetime.now(SHANGHAI)
    if now.minute >= 57:
        await asyncio.sleep((60 - now.minute) * 60 - now.second + 1)


async def test_the_brief_counts_what_the_pipeline_took_and_the_detector_raises_alerts(
    kafka_bootstrap: str, fresh_database_url: str, topic_prefix: str
) -> None:
    settings = reports_settings(
        kafka_bootstrap,
        fresh_database_url,
        topic_prefix,
        downstream_keys=f"leaders:{KEY}",
        alert_interval_s=0.5,
        alert_min_count=5,
        alert_min_score=3.0,
        alert_incident_growth=5,
        reports_publish=False,
    )
    await _wait_for_a_fresh_hour()
    async with pipeline(settings, reports=True) as http:
        ids = []
        for body in BODIES:
            resp = await http.post("/v1/complaints", json=body)
            assert resp.status_code == 202, resp.text
            ids.append(resp.json()["ticket_id"])

        async def all_counted() -> bool:
            return await fetchval(settings, "SELECT coalesce(sum(tickets), 0) FROM rollup_hourly") == len(ids)

        assert await wait_until(all_counted, timeout_s=60)
        received = await fetchval(settings, "SELECT min(received_at) FROM tickets")
        assert isinstance(received, datetime)
        hour = hour_of(received, SHANGHAI)
        # Last week's same hour had 4 tickets and three of the days since one each, all in a cell that is
        # not the burst's: so the burst's cell has a baseline of 0 over four hours of history.
        week = days_before(hour, 7)
        seeds = [(week.start, "东城区", "教育", "web", 4)]
        seeds += [(days_before(hour, k).start, "东城区", "教育", "phone", 1) for k in range(1, 4)]
        await _seed(settings, seeds)

        unauthorised = await http.get("/v1/reports/brief", params={"hour": hour.label})
        assert unauthorised.status_code == 401

        async def alerts_in_brief() -> bool:
            got = await http.get("/v1/reports/brief", params={"hour": hour.label}, headers=bearer(KEY))
            return {a["kind"] for a in got.json()["alerts"]} >= {"count_spike", "incident_growth"}

        assert await wait_until(alerts_in_brief, timeout_s=30)
        resp = await http.get("/v1/reports/brief", params={"hour": hour.label}, headers=bearer(KEY))
        assert resp.status_code == 200, resp.text
        brief = resp.json()
        csv_resp = await http.get(
            "/v1/reports/brief", params={"hour": hour.label, "format": "csv"}, headers=bearer(KEY)
        )
        bad = await http.get("/v1/reports/brief", params={"hour": "2026-02-30T09"}, headers=bearer(KEY))
        alerts = await read_topic(kafka_bootstrap, topic_name(ALERTS, topic_prefix), expect=10, timeout_s=5)

    stored = await _stored(settings)
    _check_brief(brief, hour.label, stored)
    assert csv_resp.status_code == 200 and csv_resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_resp.text.lstrip("\ufeff"))))
    assert rows[1][:4] == ["total", hour.label, "全部", str(len(BODIES))]
    assert bad.status_code == 400

    published = [orjson.loads(v) for _, v in alerts]
    kinds = {a["kind"] for a in published}
    assert {"count_spike", "incident_growth"} <= kinds
    assert len({a["alert_id"] for a in published}) == len(published)  # each raised once
    growth = next(a for a in published if a["kind"] == "incident_growth")
    assert datetime.fromisoformat(growth["raised_at"]) - received < timedelta(seconds=60)
    assert await fetchval(settings, "SELECT count(*) FROM report_alerts") == len(published)


def _check_brief(brief: dict[str, Any], label: str, stored: list[dict[str, Any]]) -> None:
    """The brief's figures against the tickets sent and stored."""
    assert brief["hour"] == label and brief["timezone"] == "Asia/Shanghai"
    assert brief["total"] == {
        "tickets": len(BODIES),
        "urgent": sum(1 for t in stored if t["urgency"] != "normal"),
        "week_before": 4,
        "change": (len(BODIES) - 4) / 4,
    }
    assert sum(c["tickets"] for c in brief["by_category"]) == len(BODIES)
    assert sum(d["tickets"] for d in brief["by_district"]) == len(BODIES)
    top = brief["rising_incidents"][0]
    burst = [t for t in stored if t["external_id"].startswith("brief-burst-")]
    assert top["incident_id"] == burst[0]["incident_id"] and top["growth"] == 6 and top["new"]
    # WeChat messages have no title: the samples are the text's beginning.
    assert top["size"] == 6 and top["sample_titles"] and all(top["sample_titles"])
    assert top["sample_titles"][0].startswith("朝阳区望京西园三区门口的井盖丢了")
    assert brief["new_incidents"] >= 1
    (hotspot,) = [h for h in brief["hotspots"] if h["tickets"] == 6]
    assert (hotspot["district"], hotspot["category"]) == (burst[0]["district"], burst[0]["category"])
    assert hotspot["baseline"] == 0.0 and hotspot["score"] >= 3.0
    urgent_ids = {t["ticket_id"] for t in stored if t["urgency"] != "normal"}
    assert {u["ticket_id"] for u in brief["urgent_tickets"]} == urgent_ids
    assert all(u["status"] == "processed" and u["title"] for u in brief["urgent_tickets"])
    assert f"共受理诉求{len(BODIES)}件" in brief["summary"] and "上升最快" in brief["summary"]


async def _stored(settings: Settings) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        rows = await conn.fetch(
            "SELECT ticket_id, external_id, urgency, district, category, incident_id FROM tickets"
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()
