"""The read and lifecycle API on the real Postgres (and Kafka for the events): filters, cursors, incidents,
the hourly report, status changes with history and `ticket.status_changed` events, the example subscriber.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from app.auth_downstream import DownstreamKeys
from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.schemas.contract import DOCS_DIR
from ingest.settings import Settings
from ingest.tickets import new_ticket_id
from ingest.topics import EVENTS, topic_name
from workers import store
from workers.db import asyncpg_dsn
from workers.ticket import TicketRow

KEY = "dispatch-desk-key-0123456789"
DAY = datetime(2024, 3, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _row(secret: str, received_at: datetime, **values: Any) -> TicketRow:
    external_id = uuid.uuid4().hex
    fields: dict[str, Any] = {
        "ticket_id": new_ticket_id(secret, f"ext:web:{external_id}"),
        "received_at": received_at,
        "processed_at": received_at + timedelta(seconds=2),
        "status": "processed",
        "channel": "web",
        "external_id": external_id,
        "title": "路灯不亮",
        "content": "小区门口的路灯坏了一个星期",
        "citizen_key": "phone:1390000",
        "district": "丰台区",
        "address": None,
        "category": "infrastructure",
        "category_confidence": 0.9,
        "needs_review": False,
        "review_reasons": [],
        "urgency": "normal",
        "urgency_reason": None,
        "department": None,
        "duplicate_of": None,
        "incident_id": None,
        "submission": {"channel": "web"},
        "source_partition": 0,
        "source_offset": 0,
    }
    fields.update(values)
    return TicketRow(**fields)


async def _store(settings: Settings, rows: list[TicketRow]) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        async with conn.transaction():
            await store.ensure_partitions(conn, rows, set())
            await store.claim_new(conn, rows)
            await store.insert_tickets(conn, rows)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def tag() -> str:
    """Marks this module's rows (as their district) so that other tests' rows never match the filters."""
    return uuid.uuid4().hex[:6]


@pytest.fixture
async def http(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway on the test database, on the in-process bus, with one downstream key configured."""
    settings = Settings(database_url=database_url)
    app = create_app(settings, broker=in_process_broker(settings))
    async with app.router.lifespan_context(app):
        app.state.downstream_keys = DownstreamKeys(f"dispatch:{KEY}")
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as client:
            yield client


@pytest.fixture(scope="module")
def day_rows(tag: str) -> list[TicketRow]:
    """60 tickets over 10 March 2024 (Beijing time) and a few either side, of every channel and urgency."""
    rng = random.Random(5)
    secret = Settings().ticket_secret
    rows = []
    for i in range(60):
        at = DAY + timedelta(minutes=rng.randrange(-120, 26 * 60))
        rows.append(
            _row(
                secret,
                at.astimezone(UTC),
                channel=rng.choice(["web", "wechat", "phone"]),
                district=f"{rng.choice(['朝阳区', '海淀区'])}-{tag}",
                category=rng.choice(["noise", "traffic"]),
                urgency=rng.choice(["normal", "normal", "high", "critical"]),
                incident_id=f"INC-{tag}" if i % 7 == 0 else None,
            )
        )
    return rows


@pytest.fixture
async def stored(database_url: str, day_rows: list[TicketRow], tag: str) -> list[TicketRow]:
    """The day's rows and their incident, stored once per test run."""
    settings = Settings(database_url=database_url)
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        present = await conn.fetchval("SELECT count(*) FROM tickets WHERE district LIKE $1", f"%-{tag}")
        if present:
            return day_rows
        linked = [r.received_at for r in day_rows if r.incident_id]
        await conn.execute(
            "INSERT INTO incidents (incident_id, bucket, title, category, district, place, size, "
            "first_seen, last_seen, signature) "
            "VALUES ($1, 'b', '路口积水', 'traffic', '朝阳区', '望京', $2, $3, $4, '{}')",
            f"INC-{tag}",
            len(linked),
            min(linked),
            max(linked),
        )
    finally:
        await conn.close()
    await _store(settings, day_rows)
    return day_rows


async def _pages(
    http: httpx.AsyncClient, path: str, params: dict[str, str], key: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await http.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        items += page.json()[key]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


async def test_filters_and_cursor_paging(http: httpx.AsyncClient, stored: list[TicketRow], tag: str) -> None:
    window = {"since": "2024-03-09T00:00:00Z", "until": "2024-03-12T00:00:00Z"}
    for district in (f"朝阳区-{tag}", f"海淀区-{tag}"):
        for params in ({"channel": "phone"}, {"urgency": "critical", "category": "noise"}, {}):
            expected = {
                r.ticket_id
                for r in stored
                if r.district == district and all(getattr(r, k) == v for k, v in params.items())
            }
            query = {**window, **params, "district": district, "limit": "4"}
            got = await _pages(http, "/v1/complaints", query, "items")
            assert [t["ticket_id"] for t in got] == sorted(
                expected, key=lambda t: next((r.received_at, r.ticket_id) for r in stored if r.ticket_id == t)
            )[::-1]
    linked = await _pages(http, "/v1/complaints", {"incident": f"INC-{tag}", "status": "processed"}, "items")
    assert {t["ticket_id"] for t in linked} == {r.ticket_id for r in stored if r.incident_id}
    # A narrower window returns exactly the rows inside it.
    since, until = DAY.astimezone(UTC), (DAY + timedelta(hours=6)).astimezone(UTC)
    narrow = await http.get(
        "/v1/complaints",
        params={"since": since.isoformat(), "until": until.isoformat(), "district": f"朝阳区-{tag}"},
    )
    inside = [r for r in stored if since <= r.received_at < until and r.district == f"朝阳区-{tag}"]
    assert len(narrow.json()["items"]) == len(inside)


async def test_bad_requests_are_problems(http: httpx.AsyncClient) -> None:
    for params in (
        {"cursor": "not-a-cursor"},
        {"since": "2024-03-10T00:00:00Z", "until": "2024-03-09T00:00:00Z"},
    ):
        answer = await http.get("/v1/complaints", params=params)
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    naive = await http.get("/v1/complaints", params={"since": "2024-03-10T00:00:00"})
    assert naive.status_code == 422
    # Found by schemathesis: each of these was read as Unix time, reached Postgres (500) or overflowed (500).
    for path, params in (
        ("/v1/complaints", {"until": "0.5"}),
        ("/v1/reports/hourly", {"date": "0"}),
        ("/v1/complaints", {"district": "朝阳\x00区"}),
        ("/v1/complaints", {"category": "\x00"}),
        ("/v1/incidents/INC%00", {}),
        ("/v1/reports/hourly", {"date": "0001-01-01"}),
        ("/v1/complaints", {"since": "9999-12-31T23:00:00-05:00"}),
    ):
        refused = await http.get(path, params=params)
        assert refused.status_code == 422, (path, params, refused.status_code, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    # Open311 answers a bad parameter with a 400 in its own error format (GeoReport v2), not a 503.
    for edge in ({"end_date": "9999-12-31T23:59:59Z"}, {"start_date": "0001-01-01T00:00:00Z"}):
        refused = await http.get("/open311/v2/requests.json", params=edge)
        assert refused.status_code == 400, (edge, refused.text)
        assert refused.json()[0]["code"] == 400
    for zone in ("Mars/Base", "posixrules"):  # posixrules: a tz file Python loads and Postgres does not know
        unknown_zone = await http.get("/v1/reports/hourly", params={"date": "2024-03-10", "timezone": zone})
        assert unknown_zone.status_code == 400, (zone, unknown_zone.text)
    # Cursors this API never issued: a NUL byte in the ticket id, an instant at the calendar's edge.
    for forged in (["2024-03-10T00:00:00+00:00", "JS\x00"], ["9999-12-31T23:59:59-05:00", "JSX"]):
        cursor = base64.urlsafe_b64encode(orjson.dumps(forged)).decode().rstrip("=")
        bad = await http.get("/v1/complaints", params={"cursor": cursor})
        assert bad.status_code == 400, (forged, bad.text)
    anonymous = await http.get("/v1/complaints", headers={"Authorization": "Bearer wrong-key-0123456789"})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")


async def test_incident_with_its_tickets(http: httpx.AsyncClient, stored: list[TicketRow], tag: str) -> None:
    first = await http.get(f"/v1/incidents/INC-{tag}", params={"limit": "3"})
    assert first.status_code == 200
    body = first.json()
    assert body["title"] == "路口积水" and body["size"] == sum(1 for r in stored if r.incident_id)
    tickets = await _pages(http, f"/v1/incidents/INC-{tag}", {"limit": "3"}, "tickets")
    expected = sorted((r for r in stored if r.incident_id), key=lambda r: (r.received_at, r.ticket_id))
    assert [t["ticket_id"] for t in tickets] == [r.ticket_id for r in expected]
    missing = await http.get(f"/v1/incidents/INC-none-{tag}")
    assert missing.status_code == 404


async def test_hourly_report_counts_local_hours(
    http: httpx.AsyncClient, stored: list[TicketRow], tag: str
) -> None:
    answer = await http.get("/v1/reports/hourly", params={"date": "2024-03-10"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["timezone"] == "Asia/Shanghai"
    mine = [row for row in body["rows"] if str(row["district"]).endswith(tag)]
    expected = Counter(
        (
            r.received_at.astimezone(SHANGHAI).replace(minute=0, second=0, microsecond=0).isoformat(),
            r.category,
            r.district,
            r.channel,
        )
        for r in stored
        if r.received_at.astimezone(SHANGHAI).date() == DAY.date()
    )
    got = {(row["hour"], row["category"], row["district"], row["channel"]): row["count"] for row in mine}
    assert got == dict(expected)
    assert [row["hour"] for row in mine] == sorted(row["hour"] for row in mine)


async def _read_with_headers(
    bootstrap: str, topic: str, expect: int
) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"r-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[tuple[bytes, bytes, dict[str, bytes]]] = []
    try:
        for _ in range(60):
            batch = await consumer.getmany(timeout_ms=500)
            out += [(r.key, r.value, dict(r.headers)) for recs in batch.values() for r in recs]
            if len(out) >= expect:
                break
    finally:
        await consumer.stop()
    return out


def _subscriber() -> ModuleType:
    spec = importlib.util.spec_from_file_location("subscriber_example", DOCS_DIR / "subscriber_example.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_status_lifecycle_history_and_events(stack_settings: Settings) -> None:
    row = _row(stack_settings.ticket_secret, datetime.now(UTC), urgency="high", category="traffic")
    await _store(stack_settings, [row])
    app = create_app(stack_settings)
    async with app.router.lifespan_context(app):
        app.state.downstream_keys = DownstreamKeys(f"dispatch:{KEY}")
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {KEY}", "X-Trace-Id": "trace-abc"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as http:
            url = f"/v1/complaints/{row.ticket_id}/status"
            unauthenticated = await http.post(
                url, json={"status": "dispatched"}, headers={"Authorization": ""}
            )
            assert unauthenticated.status_code == 401
            illegal = await http.post(url, json={"status": "closed"})
            assert illegal.status_code == 409
            assert illegal.headers["content-type"].startswith("application/problem+json")
            assert illegal.json()["status_now"] == "processed"
            stale = await http.post(url, json={"status": "dispatched", "expected_status": "resolved"})
            assert stale.status_code == 409
            steps = [("dispatched", "交通委"), ("resolved", None), ("dispatched", None), ("resolved", None)]
            for seq, (status, department) in enumerate(steps, start=1):
                moved = await http.post(
                    url, json={"status": status, "department": department, "note": f"n{seq}"}
                )
                assert moved.status_code == 200, moved.text
                assert moved.json()["seq"] == seq and moved.json()["changed"] is True
            again = await http.post(url, json={"status": "resolved"})
            assert again.json()["changed"] is False and again.json()["seq"] == 4
            closed = await http.post(url, json={"status": "closed", "expected_status": "resolved"})
            assert closed.json()["status"] == "closed"
            final = await http.post(url, json={"status": "rejected"})
            assert final.status_code == 409
            history = (await http.get(f"/v1/complaints/{row.ticket_id}/history")).json()
            assert [h["status"] for h in history["history"]] == [
                "received", "processed", "dispatched", "resolved", "dispatched", "resolved", "closed",
            ]  # fmt: skip
            assert history["history"][2]["actor"] == "dispatch"
            assert history["history"][3]["department"] == "交通委"  # kept once assigned
            unknown = await http.post("/v1/complaints/JSNOTOURS/status", json={"status": "dispatched"})
            assert unknown.status_code == 404
            pending = new_ticket_id(stack_settings.ticket_secret, None)
            early = await http.post(f"/v1/complaints/{pending}/status", json={"status": "dispatched"})
            assert early.status_code == 409 and early.json()["status_now"] == "received"

    topic = topic_name(EVENTS, stack_settings.topic_prefix)
    records = await _read_with_headers(stack_settings.kafka_bootstrap_servers, topic, expect=5)
    events = [json.loads(value) for _, value, _ in records]
    assert [e["event_id"] for e in events] == [f"{row.ticket_id}:{seq}" for seq in range(1, 6)]
    assert [e["to_status"] for e in events][-1] == "closed"
    assert {key for key, _, _ in records} == {row.ticket_id.encode()}
    for _, _, meta in records:
        assert meta["event_type"] == b"ticket.status_changed"
        assert meta["schema_version"] == b"1" and meta["trace_id"] == b"trace-abc"

    # The documented example subscriber reads them back, each validated against its committed schema.
    seen: list[dict[str, Any]] = []
    handled = await _subscriber().subscribe(
        stack_settings.kafka_bootstrap_servers,
        f"example-{uuid.uuid4().hex[:6]}",
        lambda topic, partition, offset, event: seen.append(event),
        topics=[topic],
        stop_after=5,
        idle_timeout_s=15,
    )
    assert handled == 5 and [e["seq"] for e in seen] == [1, 2, 3, 4, 5]
