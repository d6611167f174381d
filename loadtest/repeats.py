"""Repeats and the burst against the generator's ground truth.

Two kinds of repeat reach the pipeline, and each has its own way of being linked to its original:
- a *client retry* re-sends a message with the same `external_id`; the gateway must answer with the original's
  ticket id (idempotency), so it is linked when both ids are equal;
- a *resubmission* is the same citizen writing about the same problem again under a new `external_id`; it gets
  a new ticket, which the workers must link through `tickets.duplicate_of` to the original's ticket.
`retries_linked` counts both kinds of link; the breakdown shows which mechanism did what. The burst is grouped
when its tickets share `tickets.incident_id`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from loadtest.plan import Kind, Plan
from loadtest.results import Recorder

# ticket id → (duplicate_of, incident_id) as stored (or as published in the ticket's event)
Links = Mapping[str, tuple[str | None, str | None]]
# What good looks like (README, the judgement's targets): resubmissions linked to their own original, none to
# another ticket; the burst's tickets, reports of one incident, in one incident.
RESUBMISSIONS_LINKED_TARGET = 0.90
BURST_IN_LARGEST_TARGET = 0.95


def client_retries(plan: Plan, rec: Recorder) -> dict[str, int]:
    """Retries sent, and whether the ones answered 202 got their original's ticket id."""
    sent = sum(rec.outcomes_by_kind["retry"].values())
    same = other = unverified = 0
    for msg, ticket in rec.retry_tickets:
        original = rec.message_ticket[msg]
        if original is None:
            unverified += 1  # the original got no 202 here (e.g. timed out): nothing to compare with
        elif original == ticket:
            same += 1
        else:
            other += 1
    return {"sent": sent, "same_ticket": same, "different_ticket": other, "unverified": unverified}


def resubmissions(plan: Plan, rec: Recorder, links: Links | None) -> dict[str, int | float | None]:
    """Resubmissions sent, and whether the workers linked each to its original's ticket."""
    resubmitted = [m for m in range(plan.messages) if plan.msg_kind[m] == Kind.RESUBMIT]
    sent = sum(rec.outcomes_by_kind["resubmit"].values())
    if links is None:
        return {
            "sent": sent,
            "linked": None,
            "linked_elsewhere": None,
            "unlinked": None,
            "unverified": None,
            "linked_share": None,
            "target_share": RESUBMISSIONS_LINKED_TARGET,
        }
    linked = elsewhere = unlinked = unverified = 0
    for m in resubmitted:
        ticket, original = rec.message_ticket[m], rec.message_ticket[int(plan.msg_ref[m])]
        if ticket is None or original is None or ticket not in links:
            unverified += 1
            continue
        dup = links[ticket][0]
        if dup == original:
            linked += 1
        elif dup is not None:
            elsewhere += 1
        else:
            unlinked += 1
    verified = linked + elsewhere + unlinked
    return {
        "sent": sent,
        "linked": linked,
        "linked_elsewhere": elsewhere,
        "unlinked": unlinked,
        "unverified": unverified,
        "linked_share": round(linked / verified, 4) if verified else None,
        "target_share": RESUBMISSIONS_LINKED_TARGET,
    }


def burst(plan: Plan, rec: Recorder, links: Links | None) -> dict[str, Any]:
    """How the burst's tickets were grouped into incidents."""
    burst_msgs = [m for m in range(plan.messages) if plan.msg_kind[m] == Kind.BURST]
    tickets = {t for m in burst_msgs if (t := rec.message_ticket[m]) is not None}
    out: dict[str, Any] = {
        "sent": sum(rec.outcomes_by_kind["burst"].values()),
        "accepted": len(tickets),
        "stored": None,
        "grouped": None,
        "incidents": None,
        "largest_incident": None,
        "largest_incident_id": None,
        "largest_share": None,
        "target_share": BURST_IN_LARGEST_TARGET,
        "others_in_largest": None,
    }
    if links is None:
        return out
    stored = [t for t in tickets if t in links]
    incidents = Counter(inc for t in stored if (inc := links[t][1]) is not None)
    largest, size = incidents.most_common(1)[0] if incidents else (None, 0)
    out |= {
        "stored": len(stored),
        "grouped": sum(incidents.values()),
        "incidents": len(incidents),
        "largest_incident": size,
        "largest_incident_id": largest,
        "largest_share": round(size / len(stored), 4) if stored else None,
        # Tickets outside the burst put into the burst's incident: over-grouping.
        "others_in_largest": (
            sum(1 for t, (_, inc) in links.items() if inc == largest and t not in tickets) if largest else 0
        ),
    }
    return out


def summarise(plan: Plan, rec: Recorder, links: Links | None, source: str) -> dict[str, Any]:
    """The report's `dedupe` section."""
    retries = client_retries(plan, rec)
    resub = resubmissions(plan, rec, links)
    grouped = burst(plan, rec, links)
    notes: list[str] = []
    if links is None:
        notes.append("no database and no events: links and incidents could not be read")
    else:
        if plan.spec.resubmit_share > 0 and not any(d for d, _ in links.values()):
            notes.append(
                "tickets.duplicate_of is null for every ticket of this run: resubmission linking is not "
                "wired in the workers yet, so resubmissions count as unlinked"
            )
        if grouped["sent"] and not any(i for _, i in links.values()):
            notes.append(
                "tickets.incident_id is null for every ticket of this run: incident grouping is not wired "
                "in the workers yet, so burst_largest_incident is 0"
            )
    linked_resub = resub["linked"] or 0
    return {
        "retries_sent": retries["sent"] + (resub["sent"] or 0),
        "retries_linked": retries["same_ticket"] + linked_resub,
        "burst_sent": grouped["sent"],
        "burst_largest_incident": grouped["largest_incident"] if links is not None else None,
        "client_retries": retries,
        "resubmissions": resub,
        "burst": grouped,
        "links_source": source,
        "notes": notes,
    }
