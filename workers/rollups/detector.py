"""The alert detector: reads the running hour's rollups and says what spiked (docs/reports.md, "Alerts").

Three rules, each raising an alert at most once per subject and hour (incident size: once per incident):

- `count_spike`: a district × category cell far above its seasonal baseline, by the same rule as the brief's
  hotspots (ingest/reports/scoring.py) with the stricter alert thresholds;
- `incident_growth`: an incident gained `alert_incident_growth` tickets or more within the hour;
- `incident_size`: an incident that grew in the hour has reached `alert_incident_size` tickets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.reports import rollups
from ingest.reports.brief import far_above
from ingest.reports.hours import Hour, elapsed_fraction, same_hour_days_before
from ingest.reports.scoring import Thresholds
from ingest.schemas.reports import AlertKind, AlertRaised, Hotspot
from ingest.settings import Settings

# Incidents looked at per hour and rule: far more than ever grow past the thresholds at once.
INCIDENT_LIMIT = 100


@dataclass(frozen=True)
class AlertRules:
    """The detector's thresholds (settings `alert_*`, `report_baseline_days`)."""

    counts: Thresholds
    incident_growth: int
    incident_size: int
    baseline_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertRules:
        """The rules the settings give."""
        return cls(
            counts=Thresholds(settings.alert_min_count, settings.alert_min_score, settings.alert_min_ratio),
            incident_growth=settings.alert_incident_growth,
            incident_size=settings.alert_incident_size,
            baseline_days=settings.report_baseline_days,
        )


def _stamp(hour: Hour) -> str:
    return hour.start.strftime("%Y%m%dT%HZ")


def count_alerts(hour: Hour, spikes: Iterable[Hotspot], now: datetime) -> list[AlertRaised]:
    """An alert per cell far above its baseline."""
    return [
        AlertRaised(
            alert_id=f"count_spike:{_stamp(hour)}:{s.district or ''}:{s.category or ''}",
            kind="count_spike",
            hour=hour.start,
            raised_at=now,
            subject={"district": s.district, "category": s.category},
            observed=s.tickets,
            baseline=s.baseline,
            score=s.score,
            message=(
                f"{s.district or '未知区'}·{s.category or '未分类'}：本小时已受理{s.tickets}件，"
                f"常态每小时{s.baseline:g}件（得分{s.score:g}）"
            ),
        )
        for s in spikes
    ]


def _incident_alert(
    kind: AlertKind,
    alert_id: str,
    row: dict[str, Any],
    *,
    observed: int,
    said: str,
    hour: Hour,
    now: datetime,
) -> AlertRaised:
    """An alert about the incident of `row`; `said` is what the message says after naming it."""
    where = row.get("place") or row.get("district") or "地点不详"
    subject = {key: row.get(key) for key in ("incident_id", "title", "place", "district", "category", "size")}
    return AlertRaised(
        alert_id=alert_id,
        kind=kind,
        hour=hour.start,
        raised_at=now,
        subject=subject,
        observed=observed,
        baseline=None,
        score=None,
        message=f"事件“{row.get('title') or row['incident_id']}”（{where}）{said}",
    )


def incident_alerts(
    hour: Hour, growing: list[dict[str, Any]], large: list[dict[str, Any]], now: datetime
) -> list[AlertRaised]:
    """Alerts for incidents growing fast within the hour (`growing`) and incidents grown large (`large`)."""
    alerts = [
        _incident_alert(
            "incident_growth",
            f"incident_growth:{_stamp(hour)}:{row['incident_id']}",
            row,
            observed=row["growth"],
            said=f"本小时新增{row['growth']}件，累计{row.get('size') or row['growth']}件",
            hour=hour,
            now=now,
        )
        for row in growing
    ]
    alerts += [
        _incident_alert(
            "incident_size",
            f"incident_size:{row['incident_id']}",
            row,
            observed=int(row["size"]),
            said=f"累计已达{row['size']}件",
            hour=hour,
            now=now,
        )
        for row in large
    ]
    return alerts


async def detect(conn: AsyncConnection, hour: Hour, rules: AlertRules, now: datetime) -> list[AlertRaised]:
    """Every alert the hour's rollups call for at `now` (including ones raised before: the caller keeps
    only the new)."""
    counts = await rollups.hour_counts(conn, hour)
    base = await rollups.baseline(conn, same_hour_days_before(hour, rules.baseline_days))
    spikes = far_above(counts, base, elapsed_fraction(hour, now), rules.counts)
    growing = await rollups.growing_incidents(conn, hour, rules.incident_growth, INCIDENT_LIMIT)
    large = await rollups.growing_incidents(conn, hour, 1, INCIDENT_LIMIT, min_size=rules.incident_size)
    return count_alerts(hour, spikes, now) + incident_alerts(hour, growing, large, now)
