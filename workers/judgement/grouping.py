"""Resubmission linking and incident grouping of one message: the step the worker and the CLI share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from workers.judgement.incidents import Assignment, GroupingInput, IncidentGrouper, IncidentStore
from workers.judgement.judge import Judge
from workers.judgement.memory_store import InMemoryIncidentStore
from workers.judgement.resubmission import (
    InMemoryResubmissionStore,
    PriorMessage,
    ResubmissionDetector,
    ResubmissionStore,
)
from workers.judgement.signature import IssueSignature, SignatureBuilder


@dataclass(frozen=True)
class GroupingMessage:
    """A message as linking and grouping see it (channel is carried for the record; grouping ignores it)."""

    id: str
    title: str
    content: str
    submitted_at: datetime
    channel: str | None = None
    district: str | None = None
    citizen: str | None = None


@dataclass(frozen=True)
class GroupingResult:
    """The incident a message belongs to and, for a resubmission, the first ticket it repeats."""

    id: str
    incident_id: str
    duplicate_of: str | None
    created_incident: bool
    score: float
    # Incidents this message showed to be its own, merged into it (their earlier members now belong to it).
    merged: tuple[str, ...] = ()
    # Earlier-grouped messages that say they repeat an earlier one and found none: this is their original.
    repeats: tuple[str, ...] = ()


class GroupingEngine:
    """First checks for a resubmission (it follows its first ticket), else groups by issue signature."""

    def __init__(
        self, signatures: SignatureBuilder, grouper: IncidentGrouper, resubmissions: ResubmissionDetector
    ) -> None:
        self.signatures = signatures
        self.grouper = grouper
        self.resubmissions = resubmissions

    def signature(self, msg: GroupingMessage) -> IssueSignature:
        """The message's issue signature (compute before taking the bucket lock)."""
        return self.signatures.build(msg.title, msg.content, msg.district)

    def bucket(self, signature: IssueSignature) -> str:
        """The bucket to lock (pg_advisory_xact_lock(hashtext(bucket))) around process()."""
        return self.grouper.bucket(signature)

    def process(
        self, msg: GroupingMessage, category: str | None = None, signature: IssueSignature | None = None
    ) -> GroupingResult:
        """Link, group and remember one message; call in submission order, holding the bucket's lock."""
        text = f"{msg.title}\n{msg.content}"
        original = self.resubmissions.find_original(msg.citizen, text, msg.submitted_at, msg.content)
        if original is not None and original.incident_id is not None:
            incident_id = self.resolve(original.incident_id)
            self.grouper.attach_resubmission(incident_id, msg.id, msg.submitted_at)
            return GroupingResult(msg.id, incident_id, original.id, False, 1.0)
        repeats = self.resubmissions.find_repeats(text, msg.content, msg.submitted_at)
        first_incident = next((r.incident_id for r in repeats if r.incident_id is not None), None)
        if first_incident is not None:
            # Its repeats came first and were grouped: the original joins their incident, as they would
            # have joined its own.
            incident_id = self.resolve(first_incident)
            self.grouper.attach_resubmission(incident_id, msg.id, msg.submitted_at)
            assignment = Assignment(incident_id, False, 1.0)
        else:
            sig = signature or self.signature(msg)
            grouped = GroupingInput(msg.id, msg.title, msg.submitted_at, sig, category)
            assignment = self.grouper.assign(grouped)
        self.resubmissions.remember(
            msg.citizen,
            PriorMessage(msg.id, text, msg.submitted_at, assignment.incident_id, msg.citizen),
            msg.content,
        )
        return GroupingResult(
            msg.id,
            assignment.incident_id,
            None,
            assignment.created,
            assignment.score,
            assignment.merged,
            tuple(r.id for r in repeats),
        )

    def resolve(self, incident_id: str) -> str:
        """The incident `incident_id` belongs to now, after any merges."""
        return self.grouper.store.resolve(incident_id)


def build_engine(
    judge: Judge,
    *,
    incidents: IncidentStore | None = None,
    resubmissions: ResubmissionStore | None = None,
    window: timedelta | None = None,
    threshold: float | None = None,
    default_city: str = "A",
) -> GroupingEngine:
    """An engine with the artefact's tuned defaults; in-memory stores unless others are given."""
    m = judge.artefact.meta["grouping"]
    grouper = IncidentGrouper(
        incidents if incidents is not None else InMemoryIncidentStore(),
        window=window or timedelta(days=m["window_days"]),
        threshold=m["threshold"] if threshold is None else threshold,
        default_city=default_city,
    )
    detector = ResubmissionDetector(
        resubmissions if resubmissions is not None else InMemoryResubmissionStore(),
        window=timedelta(days=m["resubmission_window_days"]),
    )
    return GroupingEngine(judge.signatures, grouper, detector)
