"""The urgent lane under load: the plan's labelled messages against what the pipeline made of them.

A labelled message carries a hand-labelled urgency corpus message (`loadtest.plan`): urgent (critical or
high) or a hard negative (normal, though it looks urgent). For each, the run knows when it was meant to be
sent, when it actually left, its ticket, the urgency the ticket's events on `complaints.events` gave it last,
and when the ticket first appeared on `complaints.urgent` (the Kafka timestamp the worker's producer set).
The `urgent` section of the report is computed here from those observations alone, so its arithmetic is
tested without a pipeline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from loadtest.e2e import EventsWatch
from loadtest.plan import Kind, Plan
from loadtest.results import Recorder
from loadtest.stats import Latency
from loadtest.texts import URGENT_LEVELS, Labelled

URGENT_TOPIC = "complaints.urgent"
SAMPLE = 20  # misses and false alarms listed by corpus id, for whoever tunes the model or the screen


@dataclass(frozen=True)
class Outcome:
    """What one labelled message got in the run. Times are epoch seconds."""

    label: Labelled
    intended: float  # when the plan meant to send it
    in_burst: bool  # within the incident burst's half hour
    sent: float | None = None  # when its first accepted request actually left; None: never accepted
    ticket: str | None = None
    urgency: str | None = None  # from complaints.events, the latest event's; None: no event seen
    situation: str | None = None
    on_urgent: float | None = None  # first seen on complaints.urgent; None: not (or not watched)
    lane: bool = False  # the gateway sent it on the urgent lane (else the normal lane, behind the backlog)

    @property
    def flagged(self) -> bool:
        """The pipeline called it critical or high."""
        return self.urgency in URGENT_LEVELS


@dataclass(frozen=True)
class Regular:
    """The ordinary simulated traffic's tickets: how many had an event, how many were called urgent."""

    judged: int = 0
    flagged: int = 0
    burst_judged: int = 0
    burst_flagged: int = 0


def observe(
    plan: Plan,
    rec: Recorder,
    start_epoch: float,
    events: EventsWatch | None,
    urgent: EventsWatch | None,
) -> list[Outcome]:
    """Every labelled message of the plan with what the run saw of it."""
    out = []
    for m in plan.labelled_messages().tolist():
        label = plan.label_of(m)
        assert label is not None  # labelled_messages() lists only those
        at = float(plan.msg_at[m])
        base = Outcome(label, start_epoch + at, plan.in_burst_window(at))
        accepted = rec.labelled_sent.get(m)
        if accepted is None:
            out.append(base)
            continue
        sent, ticket = accepted
        got = events.urgency(ticket) if events is not None else None
        seen = urgent.seen.get(ticket) if urgent is not None else None
        out.append(
            Outcome(
                label,
                base.intended,
                base.in_burst,
                sent=start_epoch + sent,
                ticket=ticket,
                urgency=got[0] if got else None,
                situation=got[1] if got else None,
                on_urgent=seen.published_at if seen is not None else None,
                lane=seen is not None and seen.lane,
            )
        )
    return out


def regular(plan: Plan, rec: Recorder, events: EventsWatch) -> Regular:
    """Urgency of every ticket of the unlabelled messages (a retry's ticket is its original's)."""
    labels, kinds = plan.msg_label.tolist(), plan.msg_kind.tolist()
    burst_of: dict[str, bool] = {}
    pairs = [*enumerate(rec.message_ticket), *rec.retry_tickets]
    for m, ticket in pairs:
        if ticket is not None and labels[m] < 0:
            burst_of.setdefault(ticket, kinds[m] == Kind.BURST)
    judged = flagged = burst_judged = burst_flagged = 0
    for ticket, burst in burst_of.items():
        got = events.urgency(ticket)
        if got is None:
            continue
        hit = got[0] in URGENT_LEVELS
        judged, flagged = judged + 1, flagged + hit
        burst_judged, burst_flagged = burst_judged + burst, burst_flagged + (burst and hit)
    return Regular(judged, flagged, burst_judged, burst_flagged)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _lane_times(outcomes: Iterable[Outcome]) -> tuple[Latency, Latency]:
    """Intended send → on complaints.urgent, and actual send → on complaints.urgent."""
    e2e, service = Latency(), Latency()
    for o in outcomes:
        if o.on_urgent is not None and o.sent is not None:
            e2e.record(o.on_urgent - o.intended)
            service.record(o.on_urgent - o.sent)
    return e2e, service


def _s(lat: Latency, key: str) -> float | None:
    value = lat.summary_ms()[key]
    return None if value is None else round(float(value) / 1000.0, 3)


def _level_row(outcomes: list[Outcome]) -> dict[str, Any]:
    accepted = [o for o in outcomes if o.ticket is not None]
    judged = [o for o in accepted if o.urgency is not None]
    e2e, _ = _lane_times(accepted)
    return {
        "planned": len(outcomes),
        "accepted": len(accepted),
        "judged": len(judged),
        "critical": sum(o.urgency == "critical" for o in judged),
        "high": sum(o.urgency == "high" for o in judged),
        "on_urgent": sum(o.on_urgent is not None for o in accepted),
        "e2e_p50_s": _s(e2e, "p50"),
        "e2e_p99_s": _s(e2e, "p99"),
    }


def _sample(outcomes: Iterable[Outcome]) -> list[dict[str, Any]]:
    return [
        {
            "id": o.label.id,
            "channel": o.label.channel,
            "level": o.label.level,
            "situation": o.label.situation,
            "got": o.urgency,
            "got_situation": o.situation,
        }
        for o in list(outcomes)[:SAMPLE]
    ]


def _lanes(urgent: list[Outcome]) -> dict[str, Any]:
    seen = [o for o in urgent if o.on_urgent is not None]
    on_lane = [o for o in seen if o.lane]
    off_lane = [o for o in seen if not o.lane]
    lane_e2e, _ = _lane_times(on_lane)
    normal_e2e, _ = _lane_times(off_lane)
    return {
        "urgent_lane": len(on_lane),
        "normal_lane": len(off_lane),
        "urgent_lane_e2e_p99_s": _s(lane_e2e, "p99"),
        "normal_lane_e2e_p50_s": _s(normal_e2e, "p50"),
        "normal_lane_by_situation": dict(Counter(o.label.situation for o in off_lane).most_common()),
    }


def section(
    outcomes: list[Outcome],
    regular_traffic: Regular | None,
    *,
    watched_urgent: bool,
    notes: Iterable[str] = (),
) -> dict[str, Any]:
    """The report's `urgent` section. Recall, critical recall and false alarms count only labelled tickets
    whose urgency is known (an event was seen); `urgency_unknown` says how many were not, and
    `not_accepted` how many labelled messages got no 202 at all."""
    urgent = [o for o in outcomes if o.label.urgent and o.ticket is not None]
    judged = [o for o in urgent if o.urgency is not None]
    critical = [o for o in judged if o.label.level == "critical"]
    negatives = [o for o in outcomes if not o.label.urgent and o.ticket is not None and o.urgency is not None]
    recalled = [o for o in judged if o.flagged]
    e2e, service = _lane_times(urgent)
    burst_e2e, _ = _lane_times(o for o in urgent if o.in_burst)
    situations = [o for o in recalled if o.situation is not None]
    regular_traffic = regular_traffic or Regular()
    return {
        "count": len(urgent),
        "hard_negatives": sum(not o.label.urgent and o.ticket is not None for o in outcomes),
        "not_accepted": sum(o.ticket is None for o in outcomes),
        "urgency_unknown": sum(o.ticket is not None and o.urgency is None for o in outcomes),
        "recall": _ratio(len(recalled), len(judged)),
        "critical_recall": _ratio(sum(o.urgency == "critical" for o in critical), len(critical)),
        "false_alarm_rate": _ratio(sum(o.flagged for o in negatives), len(negatives)),
        "flagged_share_of_regular": _ratio(regular_traffic.flagged, regular_traffic.judged),
        "flagged_share_of_burst": _ratio(regular_traffic.burst_flagged, regular_traffic.burst_judged),
        "regular_judged": regular_traffic.judged,
        # Of the recalled tickets, those whose event named the label's situation; None while no event has
        # an `urgency_situation` (so a missing field is not read as every situation wrong).
        "situation_agreement": _ratio(
            sum(o.situation == o.label.situation for o in situations), len(recalled) if situations else 0
        ),
        "on_urgent": e2e.count,
        "missing_on_urgent": sum(o.on_urgent is None for o in urgent) if watched_urgent else None,
        "e2e_p50_s": _s(e2e, "p50"),
        "e2e_p99_s": _s(e2e, "p99"),
        "e2e_max_s": _s(e2e, "max"),
        "service_p50_s": _s(service, "p50"),
        "service_p99_s": _s(service, "p99"),
        # Which lane the urgent tickets took: those the screen missed or its budget turned away wait behind
        # the normal backlog, which is what the tail of e2e is made of.
        "lanes": _lanes(urgent),
        "in_burst_window": {
            "count": sum(o.in_burst for o in urgent),
            "on_urgent": burst_e2e.count,
            "e2e_p99_s": _s(burst_e2e, "p99"),
            "e2e_max_s": _s(burst_e2e, "max"),
        },
        "by_level": {
            level: _level_row([o for o in outcomes if o.label.level == level]) for level in URGENT_LEVELS
        }
        | {"hard_negative": _level_row([o for o in outcomes if not o.label.urgent])},
        "misses_sample": _sample(o for o in judged if not o.flagged),
        "false_alarms_sample": _sample(o for o in negatives if o.flagged),
        "notes": list(notes),
    }
