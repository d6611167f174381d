"""Personal numbers in complaint texts on the real Postgres: masked for readers without the scope (downstream
keys, adapter keys, Open311's public reads), as written for a scoped key proved by its key, and every read
audited with the actor, the route and how many tickets."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.auth_downstream import DownstreamKeys
from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.db.engine import make_engine
from ingest.logs import JsonFormatter
from ingest.reports import rollups
from ingest.reports.hours import hour_of
from ingest.settings import Settings
from ingest.topics import EVENTS, topic_name
from tests.api_support import API_KEYS, PHONE_KEY, WEB_KEY, bearer
from tests.integration.helpers import fetchval
from tests.integration.test_read_api import _row, _store
from workers.db import asyncpg_dsn

pytestmark = pytest.mark.postgres

DISPATCH_KEY = "dispatch-desk-key-0123456789"
DASHBOARD_KEY = "dashboard-key-0123456789abcd"
TEXT = "请回电13800138000，身份证110105199003071234，卡号6222021234567890"
MASKED = "请回电138****8000，身份证1101**********1234，卡号6222********7890"


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = Settings(
        database_url=database_url,
        api_keys=API_KEYS,
        downstream_keys=f"dispatch:{DISPATCH_KEY},dashboard:{DASHBOARD_KEY}",
        personal_data_readers="dispatch",
    )
    app = create_app(settings, broker=in_process_broker(settings))
    async with app.router.lifespan_context(app):
        app.state.downstream_keys = DownstreamKeys(settings.downstream_keys)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, settings


async def test_numbers_are_masked_without_the_scope_and_every_read_is_audited(
    gateway: tuple[httpx.AsyncClient, Settings], caplog: pytest.LogCaptureFixture
) -> None:
    http, settings = gateway
    district = f"丰台区-{uuid.uuid4().hex[:6]}"
    row = _row(settings.ticket_secret, datetime.now(UTC), content=TEXT, district=district)
    await _store(settings, [row])
    listing = f"/v1/complaints?district={district}"
    with caplog.at_level(logging.INFO, logger="jiesu.audit"):
        scoped = await http.get(listing, headers=bearer(DISPATCH_KEY))
        unscoped = await http.get(listing, headers=bearer(DASHBOARD_KEY))
        adapter = await http.get(f"/v1/complaints/{row.ticket_id}", headers=bearer(WEB_KEY))
        public = await http.get(f"/open311/v2/requests/{row.ticket_id}.json")
    assert [t["content"] for t in scoped.json()["items"]] == [TEXT]
    assert [t["content"] for t in unscoped.json()["items"]] == [MASKED]
    assert adapter.json()["content"] == MASKED
    assert public.json()[0]["description"] == MASKED
    audited = [
        (r.actor, r.route, r.tickets, r.masked)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "jiesu.audit"
    ]
    assert audited == [
        ("dispatch", "/v1/complaints", 1, False),
        ("dashboard", "/v1/complaints", 1, True),
        ("portal", "/v1/complaints/{ticket_id}", 1, True),
        ("public", "/open311/v2/requests/{service_request_id}", 1, True),
    ]


async def test_a_claimed_name_on_an_open_read_api_reads_masked(database_url: str) -> None:
    settings = Settings(database_url=database_url, personal_data_readers="dispatch")
    app = create_app(settings, broker=in_process_broker(settings))
    row = _row(settings.ticket_secret, datetime.now(UTC), content=TEXT, district=f"x-{uuid.uuid4().hex[:6]}")
    await _store(settings, [row])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.get(
                f"/v1/complaints?district={row.district}", headers={"X-Jiesu-Actor": "dispatch"}
            )
    assert [t["content"] for t in answer.json()["items"]] == [MASKED]


async def test_an_adapter_reads_only_its_own_channels_tickets(
    gateway: tuple[httpx.AsyncClient, Settings],
) -> None:
    http, settings = gateway
    row = _row(settings.ticket_secret, datetime.now(UTC), channel="web", district=f"c-{uuid.uuid4().hex[:6]}")
    await _store(settings, [row])
    assert (await http.get(f"/v1/complaints/{row.ticket_id}", headers=bearer(WEB_KEY))).status_code == 200
    other = await http.get(f"/v1/complaints/{row.ticket_id}", headers=bearer(PHONE_KEY))
    assert other.status_code == 404


async def test_the_reports_show_titles_and_samples_masked(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    now = datetime.now(UTC)
    incident = f"INC-{uuid.uuid4().hex[:8]}"
    row = _row(
        settings.ticket_secret,
        now,
        title="",
        content="燃气泄漏了，请回电13800138000",
        urgency="critical",
        incident_id=incident,
        district=f"r-{uuid.uuid4().hex[:6]}",
    )
    # A number across the 40 characters a title without its own takes from the text: masked before the cut.
    cut = _row(
        settings.ticket_secret,
        now,
        title="",
        content="燃" * 35 + "13800138000请回电",
        urgency="critical",
        district=row.district,
    )
    await _store(settings, [row, cut])
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            hour = hour_of(now, ZoneInfo("Asia/Shanghai"))
            urgent = await rollups.urgent_tickets(conn, (hour.start, hour.end), 1000)
            samples = await rollups.samples(
                conn, [incident], (now - timedelta(hours=1), now + timedelta(hours=1)), 3
            )
    finally:
        await engine.dispose()
    titles = {u["ticket_id"]: u["title"] for u in urgent}
    assert titles[row.ticket_id] == "燃气泄漏了，请回电138****8000"
    assert titles[cut.ticket_id] == "燃" * 35 + "138**"
    assert samples[incident] == ["燃气泄漏了，请回电138****8000"]


NOTE = "已联系市民,回电13800138000"
NOTE_MASKED = "已联系市民,回电138****8000"
DEPARTMENT = "街道办 王师傅 13900001111"
DEPARTMENT_MASKED = "街道办 王师傅 139****1111"


@pytest.mark.parametrize("events_personal_data", [False, True])
async def test_status_notes_are_masked_in_the_history_and_the_event(
    database_url: str, events_personal_data: bool, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=database_url,
        downstream_keys=f"dispatch:{DISPATCH_KEY},dashboard:{DASHBOARD_KEY}",
        personal_data_readers="dispatch",
        events_personal_data=events_personal_data,
    )
    broker = in_process_broker(settings)
    app = create_app(settings, broker=broker)
    row = _row(settings.ticket_secret, datetime.now(UTC), district=f"n-{uuid.uuid4().hex[:6]}")
    await _store(settings, [row])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            change = {"status": "dispatched", "department": DEPARTMENT, "note": NOTE}
            moved = await http.post(
                f"/v1/complaints/{row.ticket_id}/status", json=change, headers=bearer(DISPATCH_KEY)
            )
            assert moved.status_code == 200, moved.text
            history = f"/v1/complaints/{row.ticket_id}/history"
            with caplog.at_level(logging.INFO, logger="jiesu.audit"):
                scoped = (await http.get(history, headers=bearer(DISPATCH_KEY))).json()["history"]
                unscoped = (await http.get(history, headers=bearer(DASHBOARD_KEY))).json()["history"]
    assert (scoped[-1]["note"], scoped[-1]["department"]) == (NOTE, DEPARTMENT)
    assert (unscoped[-1]["note"], unscoped[-1]["department"]) == (NOTE_MASKED, DEPARTMENT_MASKED)
    audited = [(r.actor, r.tickets, r.masked) for r in caplog.records if r.name == "jiesu.audit"]  # type: ignore[attr-defined]
    assert audited == [("dispatch", 1, False), ("dashboard", 1, True)]
    [record] = broker.records(topic_name(EVENTS, settings.topic_prefix))
    event = orjson.loads(record.value)
    if events_personal_data:
        assert (event["note"], event["department"]) == (NOTE, DEPARTMENT)
    else:
        assert (event["note"], event["department"]) == (NOTE_MASKED, DEPARTMENT_MASKED)
    # Stored as written: the masking is of what is shown.
    stored = "SELECT note FROM ticket_status_history WHERE ticket_id = $1"
    assert await fetchval(settings, stored, row.ticket_id) == NOTE


async def test_an_incidents_title_is_masked_as_its_tickets_are(
    gateway: tuple[httpx.AsyncClient, Settings],
) -> None:
    http, settings = gateway
    incident = f"INC-{uuid.uuid4().hex[:8]}"
    row = _row(settings.ticket_secret, datetime.now(UTC), title=TEXT[:14], incident_id=incident)
    await _store(settings, [row])
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        await conn.execute(
            "INSERT INTO incidents (incident_id, bucket, title, size, first_seen, last_seen, signature) "
            "VALUES ($1, 'b', $2, 1, $3, $3, '{}')",
            incident,
            TEXT[:14],
            row.received_at,
        )
    finally:
        await conn.close()
    scoped = (await http.get(f"/v1/incidents/{incident}", headers=bearer(DISPATCH_KEY))).json()
    unscoped = (await http.get(f"/v1/incidents/{incident}", headers=bearer(DASHBOARD_KEY))).json()
    assert scoped["title"] == TEXT[:14] and scoped["tickets"][0]["title"] == TEXT[:14]
    assert unscoped["title"] == MASKED[:14] and unscoped["tickets"][0]["title"] == MASKED[:14]


async def test_a_failed_statements_log_shows_neither_its_parameters_nor_asyncpgs_quote_of_them(
    database_url: str,
) -> None:
    engine = make_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as conn:
            # Built here so that the traceback's own source line does not hold the number.
            number = "1380013" + "8000"
            await conn.execute(text("SELECT CAST(:v AS integer)"), {"v": f"请回电{number}"})
    except DBAPIError:
        record = logging.LogRecord("jiesu.gateway", logging.ERROR, __file__, 1, "unhandled", (), None)
        record.exc_info = sys.exc_info()
    finally:
        await engine.dispose()
    line = JsonFormatter().format(record)
    assert "13800138000" not in line
    assert "query argument $1: (value hidden)" in line and "SELECT CAST" in line


@pytest.mark.parametrize(
    ("cast", "says"),
    [
        ("integer", "invalid input syntax for type integer: (value hidden)"),
        ("jsonb", "DETAIL:  (value hidden)"),
    ],
)
async def test_postgres_own_quotes_of_a_value_are_hidden_too(database_url: str, cast: str, says: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(Settings(database_url=database_url)))
    try:
        await conn.fetchval(f"SELECT $1::text::{cast}", "{" + "1380013" + "8000")
    except asyncpg.PostgresError as exc:
        error = str(exc)
    finally:
        await conn.close()
    line = JsonFormatter().format(
        logging.LogRecord("jiesu.worker", logging.WARNING, __file__, 1, "refused: %s", (error,), None)
    )
    assert "13800138000" not in line and says in line


async def test_a_status_note_is_normalised_like_any_free_text(
    gateway: tuple[httpx.AsyncClient, Settings],
) -> None:
    http, settings = gateway
    row = _row(settings.ticket_secret, datetime.now(UTC), district=f"f-{uuid.uuid4().hex[:6]}")
    await _store(settings, [row])
    # A NUL byte Postgres would refuse, and full-width digits the masking would not see as a number.
    change = {"status": "dispatched", "note": "已回电\x00１３８００１３８０００", "department": "街道办\x00"}
    moved = await http.post(
        f"/v1/complaints/{row.ticket_id}/status", json=change, headers=bearer(DISPATCH_KEY)
    )
    assert moved.status_code == 200, moved.text
    history = f"/v1/complaints/{row.ticket_id}/history"
    [step] = (await http.get(history, headers=bearer(DASHBOARD_KEY))).json()["history"][2:]
    assert (step["note"], step["department"]) == ("已回电138****8000", "街道办")
    stored = "SELECT note FROM ticket_status_history WHERE ticket_id = $1"
    assert await fetchval(settings, stored, row.ticket_id) == "已回电13800138000"
