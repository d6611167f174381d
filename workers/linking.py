"""Resubmission links and incident grouping of a batch, inside the batch's Postgres transaction.

The judgement library (workers/judgement) groups against in-memory stores; here those stores are seeded from
Postgres for the batch — the citizens' recent original tickets, and the recent incidents of the batch's
buckets that share a retrieval key with it — under a transaction-scoped advisory lock per bucket, so that
workers on other partitions never group the same bucket at the same time. Touched incidents are written
back before the lock is released at commit. A redelivered batch has no new tickets, so nothing is regrouped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import orjson

from workers.judgement.dedupe import DedupeEngine, DedupeMessage, build_engine
from workers.judgement.incidents import Incident
from workers.judgement.judge import Judge
from workers.judgement.memory_store import InMemoryIncidentStore
from workers.judgement.resubmission import InMemoryResubmissionStore, PriorMessage
from workers.judgement.signature import IssueSignature
from workers.ticket import TicketRow

# Candidates fetched per bucket for one batch: enough for a burst, bounded so one batch's cost stays flat.
MAX_CANDIDATES_PER_BUCKET = 2000

# Sorted, so two workers needing the same buckets take their locks in the same order and never deadlock.
_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext('jiesu_incident:' || b)) FROM unnest($1::text[]) AS b ORDER BY b"
)
_CANDIDATES = """
SELECT incident_id, bucket, title, category, city, district, places, size, first_seen, last_seen,
       signature::text AS signature, keys
FROM incidents
WHERE bucket = $1 AND last_seen >= $2 AND keys && $3::text[]
ORDER BY last_seen DESC
LIMIT $4
"""
_PRIOR = """
SELECT ticket_id, citizen_key, title, content, received_at, incident_id
FROM tickets
WHERE citizen_key = ANY($1::text[]) AND received_at >= $2 AND duplicate_of IS NULL
ORDER BY received_at
"""
# Arrays of arrays cannot be bound, so places and keys travel as JSON text and are unpacked in SQL.
_UPSERT = """
INSERT INTO incidents (incident_id, bucket, title, category, city, district, place, places, size,
                       first_seen, last_seen, signature, keys)
SELECT incident_id, bucket, title, category, city, district, place,
       ARRAY(SELECT jsonb_array_elements_text(places::jsonb)), size, first_seen, last_seen, signature::jsonb,
       ARRAY(SELECT jsonb_array_elements_text(keys::jsonb))
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::int[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[])
    AS t(incident_id, bucket, title, category, city, district, place, places, size, first_seen, last_seen,
         signature, keys)
ON CONFLICT (incident_id) DO UPDATE SET
    size = EXCLUDED.size, last_seen = EXCLUDED.last_seen, signature = EXCLUDED.signature,
    keys = EXCLUDED.keys, places = EXCLUDED.places, place = EXCLUDED.place,
    city = COALESCE(incidents.city, EXCLUDED.city), district = COALESCE(incidents.district, EXCLUDED.district)
"""


@dataclass(frozen=True)
class Link:
    """What grouping decided for one ticket."""

    duplicate_of: str | None
    incident_id: str
    created_incident: bool


class _TrackingIncidentStore(InMemoryIncidentStore):
    """An in-memory store that remembers which incidents the batch created or changed."""

    def __init__(self) -> None:
        super().__init__()
        self.touched: set[str] = set()
        self.keys_of: dict[str, list[str]] = {}

    def seed(self, incident: Incident, keys: Sequence[str]) -> None:
        """Load an incident read from Postgres without marking it touched."""
        self.keys_of[incident.incident_id] = list(keys)
        super().create(incident, keys, f"seed:{incident.incident_id}")

    def create(self, incident: Incident, keys: Sequence[str], message_id: str) -> None:
        """Create, and remember to write it back."""
        super().create(incident, keys, message_id)
        self.touched.add(incident.incident_id)
        self.keys_of[incident.incident_id] = list(keys)

    def attach(
        self,
        incident_id: str,
        message_id: str,
        at: datetime,
        signature: IssueSignature | None,
        keys: Sequence[str],
    ) -> None:
        """Attach, and remember to write it back."""
        super().attach(incident_id, message_id, at, signature, keys)
        self.touched.add(incident_id)
        if keys:
            self.keys_of[incident_id] = list(keys)


class SignatureCache:
    """Parsed signatures by their stored JSON text: each batch seeds mostly the incidents the previous one
    seeded, unchanged, and parsing ~1 KB of JSON into arrays per incident per batch cost more than grouping
    a tenth of the batch. Keyed by the exact text, so a changed incident is parsed again."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._max = max_entries
        self._parsed: dict[str, IssueSignature] = {}

    def get(self, text: str) -> IssueSignature:
        """The signature stored as `text`."""
        sig = self._parsed.get(text)
        if sig is None:
            if len(self._parsed) >= self._max:
                self._parsed.clear()
            sig = self._parsed[text] = IssueSignature.from_json(orjson.loads(text))
        return sig


def _incident_from_row(rec: asyncpg.Record, signatures: SignatureCache | None = None) -> Incident:
    return Incident(
        incident_id=rec["incident_id"],
        bucket=rec["bucket"],
        size=rec["size"],
        first_seen=rec["first_seen"],
        last_seen=rec["last_seen"],
        title=rec["title"],
        category=rec["category"],
        city=rec["city"],
        district=rec["district"],
        places=tuple(rec["places"] or ()),
        signature=(
            signatures.get(rec["signature"])
            if signatures is not None
            else IssueSignature.from_json(orjson.loads(rec["signature"]))
        ),
    )


class BatchLinker:
    """Links the new tickets of a batch: resubmission of a citizen's earlier ticket, and incident."""

    def __init__(self, judge: Judge, window: timedelta | None = None) -> None:
        self._judge = judge
        probe = build_engine(judge)
        self.incident_window = window or probe.grouper.window
        self.resubmission_window = probe.resubmissions.window
        self._signatures = SignatureCache()

    def _engine(self) -> tuple[DedupeEngine, _TrackingIncidentStore, InMemoryResubmissionStore]:
        incidents = _TrackingIncidentStore()
        prior = InMemoryResubmissionStore()
        engine = build_engine(
            self._judge, incidents=incidents, resubmissions=prior, window=self.incident_window
        )
        return engine, incidents, prior

    async def link(self, conn: asyncpg.Connection, rows: Sequence[TicketRow]) -> dict[str, Link]:
        """Decide duplicate_of and incident_id for `rows` (new tickets), writing the incidents they touch."""
        if not rows:
            return {}
        ordered = sorted(rows, key=lambda r: (r.received_at, r.ticket_id))
        engine, incidents, prior = self._engine()
        messages = [
            DedupeMessage(
                r.ticket_id, r.title, r.content, r.received_at, r.channel, r.district, r.citizen_key
            )
            for r in ordered
        ]
        signatures = [engine.signature(m) for m in messages]
        buckets = sorted({engine.bucket(s) for s in signatures})
        earliest = ordered[0].received_at
        await conn.execute(_LOCK, buckets)
        await self._seed_incidents(
            conn, store=incidents, buckets=buckets, signatures=signatures, engine=engine, earliest=earliest
        )
        await self._seed_prior(conn, prior, ordered, earliest)
        links: dict[str, Link] = {}
        for row, msg, sig in zip(ordered, messages, signatures, strict=True):
            result = engine.process(msg, category=row.category, signature=sig)
            links[row.ticket_id] = Link(result.duplicate_of, result.incident_id, result.created_incident)
        await self._write_incidents(conn, incidents)
        return links

    async def _seed_incidents(
        self,
        conn: asyncpg.Connection,
        *,
        store: _TrackingIncidentStore,
        buckets: list[str],
        signatures: list[IssueSignature],
        engine: DedupeEngine,
        earliest: datetime,
    ) -> None:
        since = earliest - self.incident_window
        for bucket in buckets:
            keys = sorted({k for s in signatures if engine.bucket(s) == bucket for k in s.retrieval_keys()})
            if not keys:
                continue
            for rec in await conn.fetch(_CANDIDATES, bucket, since, keys, MAX_CANDIDATES_PER_BUCKET):
                store.seed(_incident_from_row(rec, self._signatures), rec["keys"])

    async def _seed_prior(
        self,
        conn: asyncpg.Connection,
        prior: InMemoryResubmissionStore,
        rows: list[TicketRow],
        earliest: datetime,
    ) -> None:
        citizens = sorted({r.citizen_key for r in rows if r.citizen_key})
        if not citizens:
            return
        for rec in await conn.fetch(_PRIOR, citizens, earliest - self.resubmission_window):
            text = f"{rec['title']}\n{rec['content']}"
            prior.remember(
                rec["citizen_key"],
                PriorMessage(rec["ticket_id"], text, rec["received_at"], rec["incident_id"]),
            )

    @staticmethod
    async def _write_incidents(conn: asyncpg.Connection, store: _TrackingIncidentStore) -> None:
        touched = [store.incidents[i] for i in sorted(store.touched)]
        if not touched:
            return
        columns: list[list[object]] = [[] for _ in range(13)]
        for inc in touched:
            values = (
                inc.incident_id, inc.bucket, inc.title, inc.category, inc.city, inc.district,
                "、".join(inc.places[:3]) or None, orjson.dumps(list(inc.places)).decode(), inc.size,
                inc.first_seen, inc.last_seen, orjson.dumps(inc.signature.to_json()).decode(),
                orjson.dumps(store.keys_of.get(inc.incident_id, [])).decode(),
            )  # fmt: skip
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        await conn.execute(_UPSERT, *columns)
