"""The hourly brief (小时报) of one local hour, built from the rollups: what a leader reads first.

Its parts: the hour's total against the same hour a week earlier; incidents that grew in the hour; district ×
category cells far above their own baseline (hotspots); the hour's urgent tickets with their status; the
detector's alerts; and a summary in Chinese generated from those figures (ingest/reports/summary.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.reports import rollups
from ingest.reports.hours import Hour, days_before, elapsed_fraction, same_hour_days_before
from ingest.reports.rollups import Baseline, HourCounts, read_apart
from ingest.reports.scoring import Thresholds, change, expected, is_spike, score
from ingest.reports.summary import summarise
from ingest.schemas.reports import (
    AlertRaised,
    Count,
    Hotspot,
    HourlyBrief,
    HourTotal,
    RisingIncident,
    UrgentTicket,
)
from ingest.settings import Settings


@dataclass(frozen=True)
class BriefOptions:
    """How much the brief shows and what counts as a hotspot."""

    baseline_days: int
    hotspot: Thresholds
    rising_min_growth: int = 2
    rising_limit: int = 10
    sample_titles: int = 3
    urgent_limit: int = 200
    hotspot_limit: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> BriefOptions:
        """The options the settings give."""
        return cls(
            baseline_days=settings.report_baseline_days,
            hotspot=Thresholds(settings.hotspot_min_count, settings.hotspot_min_score),
        )


def far_above(counts: HourCounts, base: Baseline, fraction: float, thresholds: Thresholds) -> list[Hotspot]:
    """The cells far above their baseline (the hotspots, or with the alert thresholds the count spikes),
    highest score first."""
    found = []
    for (district, category), tickets in counts.cells.items():
        whole = base.of((district, category))
        if whole is None:
            continue
        expect = expected(whole, fraction)
        if not is_spike(tickets, expect, thresholds):
            continue
        found.append(
            Hotspot(
                district=district,
                category=category,
                tickets=tickets,
                baseline=round(whole, 2),
                expected=round(expect, 2),
                score=round(score(tickets, expect), 2),
            )
        )
    found.sort(key=lambda h: (-h.score, -h.tickets, h.district or "", h.category or ""))
    return found


def _counts(by_name: dict[str | None, int]) -> list[Count]:
    ordered = sorted(by_name.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    return [Count(name=name, tickets=tickets) for name, tickets in ordered]


async def build_brief(engine: AsyncEngine, hour: Hour, options: BriefOptions, now: datetime) -> HourlyBrief:
    """The brief of `hour` as the rollups stand at `now` (a running hour is marked incomplete)."""
    fraction = elapsed_fraction(hour, now)
    # Independent reads on their own connections at once: the brief waits for the slowest, not the sum.
    async with asyncio.TaskGroup() as group:
        counts_read = group.create_task(read_apart(engine, rollups.hour_counts, hour))
        before_read = group.create_task(read_apart(engine, rollups.hour_total, days_before(hour, 7)))
        earlier = same_hour_days_before(hour, options.baseline_days)
        base_read = group.create_task(read_apart(engine, rollups.baseline, earlier))
        growing_read = group.create_task(
            read_apart(
                engine, rollups.growing_incidents, hour, options.rising_min_growth, options.rising_limit
            )
        )
        new_read = group.create_task(read_apart(engine, rollups.new_incidents, hour))
        urgent_read = group.create_task(
            read_apart(engine, rollups.urgent_tickets, (hour.start, hour.end), options.urgent_limit)
        )
        alerts_read = group.create_task(read_apart(engine, rollups.alerts_between, hour.start, hour.end))
    counts, growing = counts_read.result(), growing_read.result()
    ids = [row["incident_id"] for row in growing]
    samples = await read_apart(engine, rollups.samples, ids, (hour.start, hour.end), options.sample_titles)
    rising = [
        RisingIncident(
            **row,
            new=row["first_seen"] is not None and hour.start <= row["first_seen"] < hour.end,
            sample_titles=samples[row["incident_id"]],
        )
        for row in growing
    ]
    brief = HourlyBrief(
        hour=hour.label,
        timezone=str(hour.local.tzinfo),
        start=hour.start,
        end=hour.end,
        complete=fraction >= 1.0,
        generated_at=now,
        total=HourTotal(
            tickets=counts.tickets,
            urgent=counts.urgent,
            week_before=before_read.result(),
            change=change(counts.tickets, before_read.result()),
        ),
        by_category=_counts(counts.by_category),
        by_district=_counts(counts.by_district),
        new_incidents=new_read.result(),
        rising_incidents=rising,
        hotspots=far_above(counts, base_read.result(), fraction, options.hotspot)[: options.hotspot_limit],
        urgent_tickets=[UrgentTicket.model_validate(row) for row in urgent_read.result()],
        alerts=[AlertRaised.model_validate(row) for row in alerts_read.result()],
        summary="",
    )
    return brief.model_copy(update={"summary": summarise(brief)})
