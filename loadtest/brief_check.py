"""The simulator against the hourly brief (issue 17, item 7): after a run, the brief of the burst's hour must
show the burst's incident as the top rising one, and the run's alerts go into its report.

Read through the gateway's report routes (`GET /v1/reports/brief`, with `--downstream-key` when the gateway
has downstream keys), so it needs the reports worker (`python -m workers.rollups`) beside the pipeline. The
rollups count a few seconds behind the workers, so it first waits until the briefs of the run's hours have
counted every stored ticket, then for the detector's next rounds (`settle_s`). Hours are asked for in UTC:
the rollups' own hours, whatever the hotline's zone.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

import httpx

from loadtest.plan import Kind, Plan

ZONE = "UTC"
HOUR_S = 3600


@dataclass(frozen=True)
class Run:
    """What the check needs of a finished run."""

    plan: Plan
    start_epoch: float  # wall-clock time of the run's second 0
    end_epoch: float  # when the drain ended
    stored: int  # tickets of the run the pipeline stored
    burst_incident: str | None  # the incident most of the burst's tickets were grouped into


def hour_label(epoch: float) -> str:
    """The UTC hour of an epoch time, as the brief takes it."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H")


def run_hours(run: Run) -> list[str]:
    """The UTC hours the run spanned, in order."""
    first = int(run.start_epoch // HOUR_S)
    last = int(run.end_epoch // HOUR_S)
    return [hour_label(h * HOUR_S) for h in range(first, last + 1)]


def burst_hour(run: Run) -> str | None:
    """The hour that most of the burst's messages were sent in."""
    plan = run.plan
    hours = Counter(
        hour_label(run.start_epoch + float(plan.msg_at[m]))
        for m in range(plan.messages)
        if plan.msg_kind[m] == Kind.BURST
    )
    return hours.most_common(1)[0][0] if hours else None


def burst_start(run: Run) -> float | None:
    """The epoch time the burst's first message was due."""
    plan = run.plan
    times = [float(plan.msg_at[m]) for m in range(plan.messages) if plan.msg_kind[m] == Kind.BURST]
    return run.start_epoch + min(times) if times else None


class Unreadable(RuntimeError):
    """The report routes did not answer (no reports route, no key, gateway gone)."""


async def _briefs(http: httpx.AsyncClient, hours: list[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for hour in hours:
        try:
            resp = await http.get("/v1/reports/brief", params={"hour": hour, "timezone": ZONE})
        except httpx.HTTPError as exc:
            raise Unreadable(f"GET /v1/reports/brief: {type(exc).__name__}: {exc}") from exc
        if resp.status_code != 200:
            raise Unreadable(f"GET /v1/reports/brief answered {resp.status_code}: {resp.text[:200]}")
        found[hour] = resp.json()
    return found


async def read_briefs(
    http: httpx.AsyncClient, run: Run, *, timeout_s: float, settle_s: float
) -> tuple[dict[str, dict[str, Any]], float]:
    """The briefs of the run's hours once they have counted the run's stored tickets (or `timeout_s` passed),
    and `settle_s` later, so the detector has looked at them; with the seconds spent waiting."""
    hours = run_hours(run)
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        briefs = await _briefs(http, hours)
        counted = sum(b["total"]["tickets"] for b in briefs.values())
        if counted >= run.stored or time.monotonic() >= deadline:
            break
        await asyncio.sleep(2.0)
    await asyncio.sleep(settle_s)
    return await _briefs(http, hours), time.monotonic() - started


def _alert_row(alert: dict[str, Any]) -> dict[str, Any]:
    subject = alert.get("subject") or {}
    return {
        "alert_id": alert["alert_id"],
        "kind": alert["kind"],
        "hour": alert["hour"],
        "raised_at": alert["raised_at"],
        "incident_id": subject.get("incident_id"),
        "observed": alert["observed"],
        "message": alert["message"],
    }


def judge(run: Run, briefs: dict[str, dict[str, Any]], waited_s: float) -> dict[str, Any]:
    """The report's `brief` section from the briefs of the run's hours."""
    alerts = {a["alert_id"]: _alert_row(a) for b in briefs.values() for a in b["alerts"]}
    ordered = sorted(alerts.values(), key=lambda a: (a["raised_at"], a["alert_id"]))
    hour = burst_hour(run)
    top = None
    if hour is not None and briefs.get(hour, {}).get("rising_incidents"):
        first = briefs[hour]["rising_incidents"][0]
        top = {k: first[k] for k in ("incident_id", "title", "place", "growth", "size")}
    start = burst_start(run)
    burst_alert = next(
        (a for a in ordered if run.burst_incident and a["incident_id"] == run.burst_incident), None
    )
    if burst_alert is not None and start is not None:
        raised = datetime.fromisoformat(burst_alert["raised_at"]).timestamp()
        burst_alert = {**burst_alert, "after_burst_start_s": round(raised - start, 1)}
    notes = []
    if hour is not None and run.burst_incident is None:
        notes.append("the burst's tickets were not grouped into an incident (or their links were not read)")
    compression = run.plan.spec.compression
    top_is_burst = top is not None and top["incident_id"] == run.burst_incident
    if hour is not None and run.burst_incident is not None and not top_is_burst and compression >= 2:
        notes.append(
            f"the run replays the profile {compression:g}× faster, so an hour of the brief holds up to "
            f"{compression:g} hours of its traffic: incidents of everyday complaints gather that many hours' "
            "growth in it, and can outgrow a burst that would top an hour of a real day"
        )
    counted = sum(b["total"]["tickets"] for b in briefs.values())
    if counted < run.stored:
        notes.append(f"the briefs counted {counted:,} tickets of the {run.stored:,} stored: the rollups lag")
    return {
        "timezone": ZONE,
        "hours": list(briefs),
        "counted": counted,
        "stored": run.stored,
        "waited_s": round(waited_s, 1),
        "burst_hour": hour,
        "burst_started_at": datetime.fromtimestamp(start, UTC).isoformat() if start is not None else None,
        "burst_incident": run.burst_incident,
        "top_rising": top,
        "burst_top_rising": None if hour is None or run.burst_incident is None else top_is_burst,
        "burst_alert": burst_alert,
        "alerts": ordered,
        "notes": notes,
    }


def unread(reason: str) -> dict[str, Any]:
    """The `brief` section of a run whose briefs could not be read."""
    return {"burst_top_rising": None, "burst_alert": None, "alerts": [], "notes": [reason]}


async def section(
    target: str, key: str, run: Run, *, timeout_s: float = 120.0, settle_s: float = 20.0
) -> dict[str, Any]:
    """Read the briefs of the run's hours from the gateway at `target` and judge them."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=target, headers=headers, timeout=30.0) as http:
        try:
            briefs, waited = await read_briefs(http, run, timeout_s=timeout_s, settle_s=settle_s)
        except Unreadable as exc:
            return unread(str(exc))
    return judge(run, briefs, waited)


# The burst's alert is due within this long of the burst's start (issue 17's target).
ALERT_WITHIN_S = 60.0


def attach(report: dict[str, Any], brief: dict[str, Any]) -> None:
    """Put the section, its two checks and its notes into a built report (the hook in loadtest/runner.py)."""
    report["brief"] = brief
    alert = brief["burst_alert"]
    within = None
    if brief["burst_top_rising"] is not None:
        within = alert is not None and alert.get("after_burst_start_s", ALERT_WITHIN_S + 1) <= ALERT_WITHIN_S
    report["checks"]["burst_top_rising_in_brief"] = brief["burst_top_rising"]
    report["checks"]["burst_alert_within_60s"] = within
    report["warnings"] += [f"brief: {n}" for n in brief["notes"]]
    report["ok"] = all(v is not False for v in report["checks"].values())


def summary_lines(brief: dict[str, Any] | None) -> list[str]:
    """The brief's lines of the printed summary."""
    if not brief:
        return []
    top = brief.get("top_rising") or {}
    alert = brief["burst_alert"] or {}
    lines = [
        f"brief of the burst's hour {brief.get('burst_hour')}: top rising {top.get('incident_id')} "
        f"(+{top.get('growth')}), the burst's {brief.get('burst_incident')}: "
        f"{'yes' if brief['burst_top_rising'] else brief['burst_top_rising']}; "
        f"burst alert {alert.get('kind')} {alert.get('after_burst_start_s')} s after the burst began",
    ]
    lines += [f"alert {a['raised_at']} {a['kind']}: {a['message']}" for a in brief["alerts"]]
    return lines


def html_section(brief: dict[str, Any]) -> str:
    """The brief's part of the HTML report (the hook in loadtest/html.py)."""
    top = brief.get("top_rising") or {}
    alert = brief["burst_alert"] or {}
    facts = [
        ("burst's hour (UTC)", brief.get("burst_hour")),
        ("burst's incident", brief.get("burst_incident")),
        ("top rising incident in that hour's brief", f"{top.get('incident_id')} (+{top.get('growth')})"),
        ("the burst's incident is the top rising one", brief["burst_top_rising"]),
        ("burst alert, s after the burst began", f"{alert.get('kind')} {alert.get('after_burst_start_s')}"),
        ("tickets counted by the briefs / stored", f"{brief.get('counted')} / {brief.get('stored')}"),
        *(("note", n) for n in brief["notes"]),
    ]
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in facts)
    alerts = "".join(
        f"<tr><td>{escape(a['raised_at'])}</td><td>{escape(a['kind'])}</td><td>{escape(a['message'])}</td></tr>"
        for a in brief["alerts"]
    )
    return (
        '<h2 id="brief">The hourly brief and the run\'s alerts</h2>'
        f"<table><tbody>{rows}</tbody></table>"
        f"<table><thead><tr><th>raised at</th><th>kind</th><th>alert</th></tr></thead><tbody>{alerts}</tbody>"
        "</table>"
    )
