"""The live dashboard in Debian's headless chromium, against a running gateway on a seeded database: the key
form, then every figure, chart and table read back from the page and checked against the seeded numbers; a
screenshot goes to .data/dashboard.png (docs/dashboard.png is a copy of one).

Skipped, saying why, when chromium is not installed (`apt-get install chromium`). The seeded day is
yesterday in Asia/Shanghai, pinned with `?date=` and `?hour=`, so the figures cannot move while it runs.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from app.routes.dashboard import echarts_path
from ingest.reports.day import day_hours
from ingest.settings import REPO_ROOT, Settings
from tests.browser import chromium_path, headless_page
from tests.integration.helpers import free_port, pipeline_processes, wait_until
from workers.db import asyncpg_dsn

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="the dashboard's browser test needs Debian's chromium (apt-get install chromium)",
)

KEY = "duty-office-dashboard-key-0123"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DISTRICTS = ["朝阳区", "海淀区", "丰台区", "东城区", "西城区", "通州区", "昌平区", "大兴区"]
CATEGORIES = ["城乡建设", "交通管理", "环境保护", "市场监管", "劳动社保", "卫生健康", "教育"]
BUSY_HOUR = 10
SCREENSHOT = REPO_ROOT / ".data" / "dashboard.png"


@dataclass
class Seed:
    """What was written, so that the page's figures can be checked against it."""

    day: date
    today: Counter[tuple[datetime, str, str]] = field(
        default_factory=Counter
    )  # (UTC hour, district, category)
    urgent: Counter[tuple[datetime, str, str]] = field(default_factory=Counter)
    week_before: Counter[datetime] = field(default_factory=Counter)
    rising: list[tuple[str, str, int, int]] = field(default_factory=list)  # (title, place, growth, size)
    urgent_open: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)


def _curve(local_hour: int) -> float:
    """A hotline's day: quiet at night, busiest mid-morning and early afternoon."""
    return [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 15, 14, 11, 12, 14, 13, 12, 10, 8, 7, 6, 4, 3, 2][local_hour] / 15


def _plan(day: date) -> Seed:
    rng = random.Random(17)
    seed = Seed(day)
    for hour in day_hours(day, SHANGHAI):
        for d, district in enumerate(DISTRICTS):
            for c, category in enumerate(CATEGORIES):
                scale = 40 * _curve(hour.local.hour) / (1 + d * 0.35) / (1 + c * 0.45)
                tickets = int(scale * rng.uniform(0.7, 1.3))
                if hour.local.hour == BUSY_HOUR and (district, category) == ("朝阳区", "城乡建设"):
                    tickets += 180  # the burst of the rising incident below
                    seed.urgent[(hour.start, district, category)] = 2
                if hour.local.hour == BUSY_HOUR and (district, category) == ("海淀区", "城乡建设"):
                    seed.urgent[(hour.start, district, category)] = 1
                if tickets:
                    seed.today[(hour.start, district, category)] = tickets
    for hour in day_hours(day - timedelta(days=7), SHANGHAI):
        seed.week_before[hour.start] = int(sum(40 * _curve(hour.local.hour) for _ in range(6)))
    seed.rising = [
        ("望京西园三区井盖丢失", "望京西园三区", 182, 240),
        ("学院路红绿灯故障", "学院路", 14, 31),
        ("方庄南路施工噪音扰民", "方庄南路", 6, 9),
    ]
    return seed


_TICKET = """
INSERT INTO tickets (ticket_id, received_at, processed_at, status, channel, title, content, district,
                     category, department, needs_review, review_reasons, urgency, urgency_situation,
                     incident_id, submission, source_partition, source_offset, dispatched_at,
                     follow_up_solved,
                     follow_up_satisfaction)
VALUES ($1, $2, $2, $3, 'phone', $4, $4, $5, $6, $7, false, '[]'::jsonb, $8, $9, $10, '{}'::jsonb, 0,
        $11, $12, $13, $14)
"""


def _tickets(seed: Seed, busy: datetime) -> list[tuple[Any, ...]]:
    """The busy hour's tickets that the lists and the rates read: three urgent ones, two of them open, and
    ordinary ones with dispatches and follow-up calls."""
    rows: list[tuple[Any, ...]] = [
        (
            "JSU1",
            busy + timedelta(minutes=5),
            "processed",
            "燃气泄漏，楼道里一股煤气味",
            "朝阳区",
            "城乡建设",
            None,
            "critical",
            "gas_leak",
            None,
            None,
            None,
            None,
        ),
        (
            "JSU2",
            busy + timedelta(minutes=9),
            "dispatched",
            "井盖丢失，孩子上学路过",
            "朝阳区",
            "城乡建设",
            "市政管委",
            "high",
            "open_manhole",
            "inc-1",
            busy + timedelta(minutes=20),
            None,
            None,
        ),
        (
            "JSU3",
            busy + timedelta(minutes=2),
            "resolved",
            "老人独居家中断暖",
            "海淀区",
            "城乡建设",
            "供热办",
            "high",
            "cold_elderly",
            None,
            busy + timedelta(minutes=30),
            True,
            "satisfied",
        ),
    ]
    outcomes = [(True, "satisfied"), (True, "basically_satisfied"), (False, "dissatisfied"), (None, None)]
    for n in range(12):
        solved, satisfaction = outcomes[n % 4]
        dispatched = busy + timedelta(minutes=10 + n) if n < 10 else None  # two never dispatched
        status = "processed" if dispatched is None else ("closed" if solved is not None else "dispatched")
        rows.append(
            (
                f"JSN{n}",
                busy + timedelta(minutes=n),
                status,
                f"{DISTRICTS[n % 3]}路灯不亮{n}",
                DISTRICTS[n % 3],
                "城乡建设",
                "市政管委",
                "normal",
                None,
                "inc-1" if n < 2 else None,
                dispatched,
                solved,
                satisfaction,
            )
        )
    seed.urgent_open = ["燃气泄漏，楼道里一股煤气味", "井盖丢失，孩子上学路过"]
    seed.tickets = [
        {
            "dispatched": r[10] is not None and r[10] - r[1] <= timedelta(hours=2),
            "solved": r[11],
            "satisfaction": r[12],
        }
        for r in rows
    ]
    return rows


async def _seed(settings: Settings, seed: Seed) -> None:
    busy = next(h for h in day_hours(seed.day, SHANGHAI) if h.local.hour == BUSY_HOUR).start
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        await conn.executemany(
            "INSERT INTO rollup_hourly VALUES ($1, $2, $3, 'web', $4, $5)",
            [(hour, d, c, n, seed.urgent[(hour, d, c)]) for (hour, d, c), n in seed.today.items()],
        )
        await conn.executemany(
            "INSERT INTO rollup_hourly VALUES ($1, '朝阳区', '城乡建设', 'phone', $2, 0)",
            list(seed.week_before.items()),
        )
        for k, (title, place, growth, size) in enumerate(seed.rising, start=1):
            await conn.execute(
                "INSERT INTO incidents VALUES ($1, 'city', $2, '城乡建设', '朝阳区', $3, $4, $5, $5, '{}')",
                f"inc-{k}",
                title,
                place,
                size,
                busy - timedelta(days=2),
            )
            await conn.execute(
                "INSERT INTO rollup_incident_hourly VALUES ($1, $2, $3)", busy, f"inc-{k}", growth
            )
        await conn.execute("SELECT jiesu_ensure_ticket_partition($1::date)", busy.date())
        for offset, row in enumerate(_tickets(seed, busy)):
            await conn.execute(_TICKET, *row[:10], offset, *row[10:])
        alerts = [
            ("incident_growth", "事件“望京西园三区井盖丢失”本小时新增182件", busy + timedelta(minutes=12)),
            ("count_spike", "朝阳区·城乡建设本小时221件，为常态的6.1倍", busy + timedelta(minutes=15)),
        ]
        for kind, message, raised in alerts:
            await conn.execute(
                "INSERT INTO report_alerts VALUES ($1, $2, $3, $4, '{}'::jsonb, 1, NULL, NULL, $5)",
                f"{kind}:{busy:%Y%m%d%H}",
                kind,
                busy,
                raised,
                message,
            )
        seed.alerts = [message for _, message, _ in alerts]
    finally:
        await conn.close()


def _rate(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator * 100:.1f}%"


async def test_the_dashboard_shows_the_seeded_day(
    kafka_bootstrap: str, fresh_database_url: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed by `make test` (make dashboard); without it the page shows what is missing and no chart.
    assert echarts_path().is_file(), f"no chart library at {echarts_path()}: run make dashboard"
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=fresh_database_url, topic_prefix=topic_prefix
    )
    day = datetime.now(SHANGHAI).date() - timedelta(days=1)
    seed = _plan(day)
    await _seed(settings, seed)
    monkeypatch.setenv("JIESU_DOWNSTREAM_KEYS", f"duty:{KEY}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with pipeline_processes(settings, port, workers=0):

        async def up() -> bool:
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.get(f"{base}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        assert await wait_until(up, timeout_s=60)
        async with headless_page() as page:
            # Whatever the Content-Security-Policy blocks, the chart library's too, is recorded: none may be.
            await page.before_each_document(
                "window.blocked = []; document.addEventListener('securitypolicyviolation',"
                " (e) => window.blocked.push(e.violatedDirective + ' ' + e.blockedURI));"
            )
            await page.goto(f"{base}/dashboard?date={day}&hour={day}T{BUSY_HOUR:02d}&refresh=2")
            # Without a key the routes answer 401 and the page asks for one.
            await page.wait_for("!document.getElementById('key-form').hidden")
            await page.evaluate(
                f"document.getElementById('key').value = {KEY!r};"
                "document.querySelector('#key-form button').click(); true"
            )
            await page.wait_for("window.jiesuDashboard.refreshed >= 1")
            # It refreshes itself (every 2 s here), with the key from sessionStorage.
            await page.wait_for("window.jiesuDashboard.refreshed >= 2", timeout_s=15)
            shown = await page.evaluate(_READ_BACK)
            stored_key = await page.evaluate("sessionStorage.getItem('jiesu.downstreamKey')")
            blocked = await page.evaluate("window.blocked")
            await page.screenshot(SCREENSHOT)
    _check(seed, shown)
    assert stored_key == KEY
    assert blocked == []
    assert SCREENSHOT.stat().st_size > 20_000


# What the page shows, read from the charts' options and the DOM's text.
_READ_BACK = """(() => {
  const opt = (id) => echarts.getInstanceByDom(document.getElementById(id)).getOption();
  const rows = (id) => [...document.querySelectorAll('#' + id + ' tbody tr')].map(
      (tr) => [...tr.cells].map((td) => td.textContent));
  const text = (id) => document.getElementById(id).textContent;
  const volume = opt('volume'), heat = opt('heat');
  return {
    error: window.jiesuDashboard.error,
    hours: volume.xAxis[0].data, today: volume.series[0].data, weekBefore: volume.series[1].data,
    heatX: heat.xAxis[0].data, heatY: heat.yAxis[0].data, heat: heat.series[0].data,
    tickets: text('fig-tickets'), urgentCount: text('fig-urgent'), change: text('fig-change'),
    alertsCount: text('fig-alerts'),
    response: text('rate-response'), resolution: text('rate-resolution'),
    satisfaction: text('rate-satisfaction'),
    rising: rows('rising'), urgent: rows('urgent'), alerts: rows('alerts'), summary: text('summary'),
  };
})()"""


def _check(seed: Seed, shown: dict[str, Any]) -> None:
    """Every figure on the page against the seed."""
    assert shown["error"] is None
    hours = day_hours(seed.day, SHANGHAI)
    per_hour = Counter[datetime]()
    per_cell = Counter[tuple[str, str]]()
    for (hour, district, category), tickets in seed.today.items():
        per_hour[hour] += tickets
        per_cell[(district, category)] += tickets
    assert shown["hours"] == [f"{h.local.hour:02d}时" for h in hours]
    assert shown["today"] == [per_hour[h.start] for h in hours]
    before = day_hours(seed.day - timedelta(days=7), SHANGHAI)
    assert shown["weekBefore"] == [seed.week_before[h.start] for h in before]
    total, week_total = sum(per_hour.values()), sum(seed.week_before.values())
    assert shown["tickets"] == f"{total:,}"
    assert shown["change"] == f"上周同期 {week_total:,}，{'+' if total >= week_total else ''}" + (
        f"{(total - week_total) / week_total * 100:.1f}%"
    )
    # The heat table: every seeded cell at its place, busiest district on top.
    assert shown["heatY"][-1] == "朝阳区" and shown["heatX"][0] == "城乡建设"
    heat = {(shown["heatY"][y], shown["heatX"][x]): n for x, y, n in shown["heat"]}
    assert heat == dict(per_cell)
    # Rising incidents of the pinned hour, most growth first.
    assert [(r[0], r[1], r[3], r[4]) for r in shown["rising"]] == [
        (title, place, f"+{growth}", f"{size}") for title, place, growth, size in seed.rising
    ]
    # The urgent queue: open ones only, oldest first.
    assert [r[2] for r in shown["urgent"]] == seed.urgent_open
    assert [r[1] for r in shown["urgent"]] == ["特急", "紧急"]
    assert [r[0] for r in shown["urgent"]] == [f"{BUSY_HOUR}:05", f"{BUSY_HOUR}:09"]  # the hotline's time
    assert shown["urgentCount"] == str(sum(seed.urgent.values()))
    assert [r[1] for r in shown["alerts"]] == list(reversed(seed.alerts))
    assert shown["alertsCount"] == str(len(seed.alerts))
    # The three rates over the seeded tickets (all past the response limit, so all due).
    seeded = seed.tickets
    assert shown["response"] == _rate(sum(t["dispatched"] for t in seeded), len(seeded))
    followed = [t for t in seeded if t["solved"] is not None]
    assert shown["resolution"] == _rate(sum(bool(t["solved"]) for t in followed), len(followed))
    rated = [t for t in seeded if t["satisfaction"] is not None]
    satisfied = sum(t["satisfaction"] in ("satisfied", "basically_satisfied") for t in rated)
    assert shown["satisfaction"] == _rate(satisfied, len(rated))
    assert "望京西园三区井盖丢失" in shown["summary"]
