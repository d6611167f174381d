"""`python -m loadtest.alert_check`: the incident alerts a day's plan would raise at its own pace, offline.

`make surge` replays a day in minutes, so its rollups put hours of tickets into one wall-clock hour and an
everyday incident's day of reports looks like a spike. Here the plan's messages keep their times of day:
they are grouped by the workers' grouping step (as `loadtest.grouping_check` does) and counted per incident
and hour, and the detector's incident rules (`alert_incident_growth` tickets within an hour,
`alert_incident_size` reached) are applied with the settings' thresholds. Count spikes need weeks of
baseline and are not counted here.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from typing import Any

from ingest.settings import Settings
from loadtest.bodies import Messages
from loadtest.grouping_check import grouped, in_batches, records
from loadtest.plan import PROFILES, PlanSpec, build_plan
from workers.judgement.grouping import build_engine
from workers.judgement.judge import Judge


def check(profile: str, scale: float, seed: int) -> dict[str, Any]:
    """The incident alerts of the plan's day, by rule and hour."""
    plan = build_plan(PlanSpec(profile=profile, scale=scale, compression=1.0, urgent_share=0.0, seed=seed))
    recs = records(plan, Messages(plan, "alerts"))
    judge = Judge.load()
    engine = build_engine(judge)
    joined: list[tuple[str, int]] = []
    for rec, result in grouped(in_batches(recs, 500), judge, engine):
        joined.append((result.incident_id, rec.msg.submitted_at.hour))
    settings = Settings()
    per_hour: dict[tuple[str, int], int] = Counter()
    for incident_id, hour in joined:
        per_hour[engine.resolve(incident_id), hour] += 1
    growth = sorted((hour, n) for (_, hour), n in per_hour.items() if n >= settings.alert_incident_growth)
    sizes: dict[str, int] = defaultdict(int)
    size_alerts: list[int] = []
    for (incident_id, hour), n in sorted(per_hour.items(), key=lambda kv: kv[0][1]):
        before = sizes[incident_id]
        sizes[incident_id] = before + n
        if before < settings.alert_incident_size <= before + n:
            size_alerts.append(hour)
    return {
        "profile": profile,
        "scale": scale,
        "messages": len(recs),
        "thresholds": {
            "incident_growth": settings.alert_incident_growth,
            "incident_size": settings.alert_incident_size,
        },
        "incident_growth_alerts": len(growth),
        "incident_growth_by_hour": dict(Counter(hour for hour, _ in growth)),
        "incident_size_alerts": len(size_alerts),
        "largest_hourly_growth": max(per_hour.values(), default=0),
        "largest_incident": max(sizes.values(), default=0),
    }


def main(argv: list[str] | None = None) -> None:
    """Print the figures as JSON."""
    p = argparse.ArgumentParser(prog="python -m loadtest.alert_check", description=__doc__.splitlines()[0])
    p.add_argument("--profile", choices=PROFILES, default="normal-day")
    p.add_argument("--scale", type=float, default=1.0, help="share of the profile's day (1.0)")
    p.add_argument("--seed", type=int, default=12345)
    args = p.parse_args(argv)
    print(json.dumps(check(args.profile, args.scale, args.seed), indent=1))


if __name__ == "__main__":
    main()
