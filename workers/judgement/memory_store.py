"""In-process incident store: the reference implementation of IncidentStore for tests and offline runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from itertools import islice
from operator import attrgetter

from workers.judgement.incidents import Incident, IncidentCandidate
from workers.judgement.signature import IssueSignature

_LAST_SEEN = attrgetter("last_seen")


def attached(incident: Incident, at: datetime, signature: IssueSignature | None) -> Incident:
    """The incident after one more message: size + 1, last seen, and unless signature is None (a
    resubmission) the new centroid with its places."""
    inc = replace(incident, size=incident.size + 1, last_seen=max(incident.last_seen, at))
    if signature is not None:
        inc = replace(
            inc,
            signature=signature,
            places=signature.places,
            city=inc.city or signature.city,
            district=inc.district or signature.district,
        )
    return inc


def merged_incident(survivor: Incident, merged: Incident, signature: IssueSignature) -> Incident:
    """The survivor of a merge: both incidents' members, their span, and the merged centroid."""
    return replace(
        survivor,
        size=survivor.size + merged.size,
        first_seen=min(survivor.first_seen, merged.first_seen),
        last_seen=max(survivor.last_seen, merged.last_seen),
        signature=signature,
        places=signature.places,
        city=survivor.city or merged.city,
        district=survivor.district or merged.district,
    )


class InMemoryIncidentStore:
    """Incidents in a dict with an inverted index from retrieval key to incidents, per bucket."""

    def __init__(self) -> None:
        self.incidents: dict[str, Incident] = {}
        # What candidates() hands out, built when an incident changes rather than for each of the up to
        # `limit` candidates of every message.
        self._candidates: dict[str, IncidentCandidate] = {}
        self.members: dict[str, list[str]] = {}
        self._seen: set[str] = set()
        # Incidents merged into another (see `merge`), each pointing at its survivor.
        self.merged_into: dict[str, str] = {}
        # bucket -> key -> incident ids in order of last touch (a dict keeps insertion order).
        self._index: dict[str, dict[str, dict[str, None]]] = {}

    def _touch(self, bucket: str, incident_id: str, keys: Sequence[str]) -> None:
        index = self._index.setdefault(bucket, {})
        for key in keys:
            posting = index.setdefault(key, {})
            posting.pop(incident_id, None)
            posting[incident_id] = None

    def candidates(
        self, bucket: str, since: datetime, keys: Sequence[str], limit: int, per_key: int | None = None
    ) -> list[IncidentCandidate]:
        """Incidents of the bucket seen at or after `since` sharing a key, most recently seen first: the
        `per_key` most recently touched of each key's posting (default `limit`), at most `limit` in all."""
        take = limit if per_key is None else per_key
        index = self._index.get(bucket, {})
        candidates = self._candidates
        found: dict[str, IncidentCandidate] = {}
        for key in keys:
            posting = index.get(key)
            if not posting:
                continue
            # The `take` most recently touched of each posting.
            for incident_id in islice(reversed(posting), take):
                cand = candidates.get(incident_id)
                if cand is None:  # merged, or let go of by a bounded subclass (workers/incident_cache.py)
                    continue
                # Postings are in order of last touch, so the rest of this one is older still.
                if cand.last_seen < since:
                    break
                found[incident_id] = cand
        return sorted(found.values(), key=_LAST_SEEN, reverse=True)[:limit]

    def _put(self, incident: Incident) -> None:
        self.incidents[incident.incident_id] = incident
        self._candidates[incident.incident_id] = IncidentCandidate(
            incident.incident_id, incident.signature, incident.size, incident.last_seen
        )

    def create(self, incident: Incident, keys: Sequence[str], message_id: str) -> None:
        """Store a new incident (a second create of the same id is ignored, like ON CONFLICT DO NOTHING)."""
        if incident.incident_id in self.incidents:
            return
        self._put(incident)
        self.members[incident.incident_id] = [message_id]
        self._seen.add(message_id)
        self._touch(incident.bucket, incident.incident_id, keys)

    def attach(
        self,
        incident_id: str,
        message_id: str,
        at: datetime,
        signature: IssueSignature | None,
        keys: Sequence[str],
    ) -> None:
        """Add a message to an incident (a repeated message id is ignored)."""
        if message_id in self._seen:
            return
        self._seen.add(message_id)
        self.members[incident_id].append(message_id)
        inc = attached(self.incidents[incident_id], at, signature)
        self._put(inc)
        self._touch(inc.bucket, incident_id, keys)

    def merge(self, survivor_id: str, merged_id: str, signature: IssueSignature, keys: Sequence[str]) -> None:
        """Make `merged_id` part of `survivor_id` (a second merge of the same pair is ignored)."""
        if self.merged_into.get(merged_id) == survivor_id:
            return
        self._put(merged_incident(self.incidents[survivor_id], self.incidents[merged_id], signature))
        self._touch(self.incidents[survivor_id].bucket, survivor_id, keys)
        self.members[survivor_id] = self.members.get(survivor_id, []) + self.members.pop(merged_id, [])
        self._absorbed(survivor_id, merged_id)

    def _absorbed(self, survivor_id: str, merged_id: str) -> None:
        """`merged_id` now resolves to `survivor_id` and is no candidate (its postings drop it lazily)."""
        for earlier, into in self.merged_into.items():
            if into == merged_id:
                self.merged_into[earlier] = survivor_id
        self.merged_into[merged_id] = survivor_id
        self._candidates.pop(merged_id, None)

    def resolve(self, incident_id: str) -> str:
        """The incident `incident_id` is part of now (merges point straight at their survivor)."""
        return self.merged_into.get(incident_id, incident_id)
