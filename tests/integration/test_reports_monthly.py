"""每月一题 candidates on the real Postgres: recurring incidents from the rollups, figures from tickets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.settings import Settings
from workers.db import asyncpg_dsn
from workers.rollups.apply import Counted, apply

# (incident, day of November 2026, citizen, department, status); 2026-11-02 is a Monday.
TICKETS = [
    ("inc-drain", 2, "c1", "区水务局", "closed"),
    ("inc-drain", 3, "c1", "区水务局", "processed"),  # c1 calls again: a repeat caller
    ("inc-drain", 10, "c2", "区水务局", "resolved"),
    ("inc-drain", 17, "c3", "街道办", "dispatched"),
    ("inc-drain", 24, "c4", None, "processed"),
    ("inc-noise", 4, "c5", "区城管委", "closed"),
    ("inc-noise", 12, "c6", "区城管委", "closed"),
    ("inc-noise", 19, "c7", "区城管委", "processed"),
    ("inc-once", 5, "c8", "区交通委", "processed"),
    ("inc-once", 5, "c9", "区交通委", "processed"),
    ("inc-once", 6, "c10", "区交通委", "processed"),
    ("inc-once", 6, "c11", "区交通委", "processed"),
]


def _at(day: int, n: int) -> datetime:
    return datetime(2026, 11, day, 2, tzinfo=UTC) + timedelta(minutes=n)


async def _seed(settings: Settings) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        await conn.execute("SELECT jiesu_ensure_ticket_partition('2026-11-01'::date)")
        items = []
        for n, (incident, day, citizen, department, status) in enumerate(TICKETS):
            ticket_id, at = f"JSM{n:03d}", _at(day, n)
            await conn.execute(
                """INSERT INTO tickets (ticket_id, received_at, processed_at, status, channel, title, content,
                   citizen_key, district, category, needs_review, review_reasons, urgency, department,
                   incident_id, submission, source_partition, source_offset)
                   VALUES ($1, $2, $2, $3, 'phone', '标题', $4, $5, '丰台区', '城乡建设', false, '[]',
                   'normal', $6, $7, '{}', 0, $8)""",
                ticket_id, at, status, f"{incident} 的第{n}条诉求", citizen, department, incident, n,
            )  # fmt: skip
            items.append(Counted(ticket_id, at, "丰台区", "城乡建设", "phone", False, incident))
        for incident in {t[0] for t in TICKETS}:
            await conn.execute(
                """INSERT INTO incidents (incident_id, bucket, title, category, district, place, size,
                   first_seen, last_seen, signature) VALUES ($1, 'bj', $1 || '的标题', '城乡建设', '丰台区',
                   '方庄', 10, $2, $2, '{}')""",
                incident, _at(2, 0),
            )  # fmt: skip
        await apply(conn, items)
    finally:
        await conn.close()


@pytest.fixture
async def http(fresh_database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=fresh_database_url, kafka_bootstrap_servers="")
    await _seed(settings)
    app = create_app(settings, broker=in_process_broker(settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def test_recurring_incidents_ranked_with_their_figures(http: httpx.AsyncClient) -> None:
    resp = await http.get("/v1/reports/monthly-issues", params={"month": "2026-11"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["month"] == "2026-11" and body["min_weeks"] == 3
    drain, noise = body["candidates"]  # inc-once came only in one week
    assert (drain["rank"], drain["incident_id"], noise["incident_id"]) == (1, "inc-drain", "inc-noise")
    assert drain["weeks"] == ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23"]
    assert (drain["tickets"], drain["citizens"], drain["repeat_callers"]) == (5, 4, 1)
    assert drain["departments"] == ["区水务局", "街道办"]
    assert (drain["resolved"], drain["resolution_rate"]) == (2, 0.4)
    assert drain["place"] == "方庄" and len(drain["sample_messages"]) == 3
    assert (noise["tickets"], noise["resolution_rate"]) == (3, round(2 / 3, 4))


async def test_fewer_weeks_let_the_one_week_incident_in_and_bad_months_are_refused(
    http: httpx.AsyncClient,
) -> None:
    resp = await http.get("/v1/reports/monthly-issues", params={"month": "2026-11", "min_weeks": 1})
    assert [c["incident_id"] for c in resp.json()["candidates"]] == ["inc-drain", "inc-noise", "inc-once"]
    assert (await http.get("/v1/reports/monthly-issues", params={"month": "2026-13"})).status_code == 400
    assert (await http.get("/v1/reports/monthly-issues", params={"month": "2026-1"})).status_code == 422
    empty = await http.get("/v1/reports/monthly-issues", params={"month": "2026-10"})
    assert empty.json()["candidates"] == []
