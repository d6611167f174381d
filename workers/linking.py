"""Resubmission links and incident grouping of a batch, inside the batch's Postgres transaction.

The judgement library (workers/judgement) groups against in-memory stores. Here the incident store is the
process's `IncidentCache`, brought up to date from Postgres under a transaction-scoped advisory lock per
bucket, so that workers on other partitions never group the same bucket at the same time; the citizens' recent
original tickets are read for the batch. Touched incidents are written back before the lock is released at
commit, and the caller confirms the commit to the cache. A redelivered batch has no new tickets, so nothing
is regrouped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import orjson

from workers.incident_cache import IncidentCache
from workers.judgement.grouping import GroupingMessage, GroupingResult, build_engine
from workers.judgement.judge import Judge
from workers.judgement.resubmission import InMemoryResubmissionStore, PriorMessage, says_repeat
from workers.metrics import BUCKET_LOCK_HELD, BUCKET_LOCK_WAIT, LATE_REPEATS, MERGED_INCIDENTS
from workers.ticket import TicketRow

# Sorted, so two workers needing the same buckets take their locks in the same order and never deadlock: the
# batch's own buckets and those of its resubmissions' incidents (in other cities) are taken in one statement.
_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext('jiesu_incident:' || b)) FROM unnest($1::text[]) AS b ORDER BY b"
)
_PRIOR = """
SELECT t.ticket_id, t.citizen_key, t.title, t.content, t.received_at, t.incident_id, t.content_key, i.bucket
FROM tickets t LEFT JOIN incidents i ON i.incident_id = t.incident_id
WHERE t.received_at >= $3 AND t.duplicate_of IS NULL AND t.incident_id IS NOT NULL
  AND (t.citizen_key = ANY($1::text[]) OR t.content_key = ANY($2::bigint[]))
ORDER BY t.received_at, t.ticket_id
"""
# Arrays of arrays cannot be bound, so places and keys travel as JSON text and are unpacked in SQL.
_UPSERT = """
INSERT INTO incidents (incident_id, bucket, title, category, city, district, place, places, size,
                       first_seen, last_seen, signature, keys, merged_into)
SELECT incident_id, bucket, title, category, city, district, place,
       ARRAY(SELECT jsonb_array_elements_text(places::jsonb)), size, first_seen, last_seen, signature::jsonb,
       ARRAY(SELECT jsonb_array_elements_text(keys::jsonb)), merged_into
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::int[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[],
            $14::text[])
    AS t(incident_id, bucket, title, category, city, district, place, places, size, first_seen, last_seen,
         signature, keys, merged_into)
ON CONFLICT (incident_id) DO UPDATE SET
    size = EXCLUDED.size, first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen,
    signature = EXCLUDED.signature, keys = EXCLUDED.keys, places = EXCLUDED.places, place = EXCLUDED.place,
    merged_into = EXCLUDED.merged_into,
    city = COALESCE(incidents.city, EXCLUDED.city), district = COALESCE(incidents.district, EXCLUDED.district)
RETURNING bucket, version
"""
# Repeats stored after the batch's first ticket that still wait for their original, with the batch's
# messages' content keys: their partition ran ahead of this one. The partial index tickets_waiting_repeats
# (migration 0011) holds only unlinked repeats.
_WAITING = """
SELECT t.ticket_id, t.citizen_key, t.title, t.content, t.received_at, t.incident_id, t.content_key, i.bucket
FROM tickets t LEFT JOIN incidents i ON i.incident_id = t.incident_id
WHERE t.says_repeat AND t.duplicate_of IS NULL AND t.content_key = ANY($1::bigint[])
  AND t.received_at >= $2 AND t.incident_id IS NOT NULL
ORDER BY t.received_at, t.ticket_id
"""
# A repeat grouped before its original: linked when the original comes.
_LINK_LATE = """
UPDATE tickets t SET duplicate_of = l.original
FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS l(ticket_id, received_at, original)
WHERE t.ticket_id = l.ticket_id AND t.received_at = l.received_at AND t.duplicate_of IS NULL
"""
# A merge moves the merged incident's tickets, and the incidents merged into it earlier, to the survivor.
_MOVE_TICKETS = """
UPDATE tickets t SET incident_id = m.survivor
FROM unnest($1::text[], $2::text[]) AS m(merged, survivor)
WHERE t.incident_id = m.merged
"""
_MOVE_MERGED = """
UPDATE incidents i SET merged_into = m.survivor
FROM unnest($1::text[], $2::text[]) AS m(merged, survivor)
WHERE i.merged_into = m.merged
"""


@dataclass(frozen=True)
class Link:
    """What grouping decided for one ticket."""

    duplicate_of: str | None
    incident_id: str
    created_incident: bool


@dataclass(frozen=True)
class Waiting:
    """A stored repeat that found no original, as the batch may link it."""

    received_at: datetime
    content_key: int
    incident_id: str
    bucket: str | None


class BatchLinker:
    """Links the new tickets of a batch: resubmission of a citizen's earlier ticket, and incident."""

    def __init__(self, judge: Judge, window: timedelta | None = None) -> None:
        self._judge = judge
        probe = build_engine(judge)
        self.incident_window = window or probe.grouper.window
        self.resubmission_window = probe.resubmissions.window
        self.incidents = IncidentCache()
        # perf_counter() when this transaction's bucket locks were granted; None when it holds none.
        self._locked_at: float | None = None

    def confirm(self) -> None:
        """The transaction `link` ran in committed (the cache's memory of it holds from now on)."""
        self.incidents.confirm()
        if self._locked_at is not None:
            BUCKET_LOCK_HELD.observe(time.perf_counter() - self._locked_at)
            self._locked_at = None

    async def link(self, conn: asyncpg.Connection, rows: Sequence[TicketRow]) -> dict[str, Link]:
        """Decide duplicate_of and incident_id for `rows` (new tickets), writing the incidents they touch."""
        self._locked_at = None  # a transaction that failed before its commit was not timed
        if not rows:
            return {}
        ordered = sorted(rows, key=lambda r: (r.received_at, r.ticket_id))
        cache = self.incidents
        cache.begin()
        prior = InMemoryResubmissionStore()
        engine = build_engine(self._judge, incidents=cache, resubmissions=prior, window=self.incident_window)
        messages = [
            GroupingMessage(
                r.ticket_id, r.title, r.content, r.received_at, r.channel, r.adapter_district, r.citizen_key
            )
            for r in ordered
        ]
        signatures = [engine.signature(m) for m in messages]
        buckets = sorted({engine.bucket(s) for s in signatures})
        earliest = ordered[0].received_at
        # Read before the locks are taken, so that a resubmission's incident's bucket (it follows its first
        # ticket, maybe into another city) is locked with the batch's own in one sorted order. Nothing
        # another worker commits meanwhile changes the answer: a citizen's tickets are written by the worker
        # of the citizen's partition (records are keyed by citizen) and a stored ticket's incident never
        # changes. Only during a rebalance can the partition's old owner still commit one; that resubmission
        # is then grouped as a message of its own instead of linked, as a read under the locks could miss too.
        # An original sent through another channel is on another citizen's partition: if its worker has not
        # committed it yet (a repeat within seconds of its original, or that partition lags behind), the
        # repeat is grouped alone, and waits: the original's batch finds it (_seed_waiting) and links it.
        # So is a repeat of a ticket the urgent lane stored that the normal lane has not linked yet (its
        # incident is not known): an unlinked ticket, the batch's own included, is never an original here.
        waiting = await self._seed_waiting(conn, prior, ordered, earliest)
        waiting_keys = sorted({w.content_key for w in waiting.values()})
        originals = await self._seed_prior(conn, prior, ordered, earliest, waiting_keys)
        originals += [(w.incident_id, w.bucket) for w in waiting.values()]
        others = sorted({bucket for _, bucket in originals if bucket is not None} - set(buckets))
        locked = sorted(buckets + others)
        asked = time.perf_counter()
        await conn.execute(_LOCK, locked)
        self._locked_at = time.perf_counter()
        BUCKET_LOCK_WAIT.observe(self._locked_at - asked)
        # Every locked bucket is brought up to date, the resubmissions' too: attaching to a stale copy of an
        # incident another worker has changed since would write its older size and centroid back.
        for bucket in locked:
            await cache.sync(conn, bucket, earliest - self.incident_window)
        await cache.ensure(conn, (incident_id for incident_id, _ in originals))
        results = [
            engine.process(msg, category=row.category, signature=sig)
            for row, msg, sig in zip(ordered, messages, signatures, strict=True)
        ]
        await self._write_incidents(conn, cache)
        await self._move_merged(conn, cache)
        await self._link_late(conn, results, waiting)
        # Resolved once all are grouped: a later message may have merged an earlier one's incident.
        return {r.id: Link(r.duplicate_of, cache.resolve(r.incident_id), r.created_incident) for r in results}

    async def _seed_prior(
        self,
        conn: asyncpg.Connection,
        prior: InMemoryResubmissionStore,
        rows: list[TicketRow],
        earliest: datetime,
        waiting_keys: Sequence[int],
    ) -> list[tuple[str, str | None]]:
        """Remember the recent original tickets the batch's may repeat: the same citizens', and those with
        the content key of a ticket that says it is a repeat (sent through another channel, so under another
        citizen key) or of a waiting repeat (`waiting_keys`: whether another original matches it);
        their incidents and those incidents' buckets."""
        citizens = sorted({r.citizen_key for r in rows if r.citizen_key})
        keys = sorted(
            {r.content_key for r in rows if r.content_key is not None and says_repeat(r.content)}
            | set(waiting_keys)
        )
        if not citizens and not keys:
            return []
        originals: list[tuple[str, str | None]] = []
        for rec in await conn.fetch(_PRIOR, citizens, keys, earliest - self.resubmission_window):
            text = f"{rec['title']}\n{rec['content']}"
            prior.remember(
                rec["citizen_key"],
                PriorMessage(
                    rec["ticket_id"], text, rec["received_at"], rec["incident_id"], rec["citizen_key"]
                ),
                rec["content_key"],
            )
            if rec["incident_id"] is not None:
                originals.append((rec["incident_id"], rec["bucket"]))
        return originals

    @staticmethod
    async def _seed_waiting(
        conn: asyncpg.Connection, prior: InMemoryResubmissionStore, rows: list[TicketRow], earliest: datetime
    ) -> dict[str, Waiting]:
        """Remember the stored repeats that found no original and may repeat one of the batch's tickets."""
        keys = sorted(
            {r.content_key for r in rows if r.content_key is not None and not says_repeat(r.content)}
        )
        if not keys:
            return {}
        batch = {r.ticket_id for r in rows}
        waiting: dict[str, Waiting] = {}
        for rec in await conn.fetch(_WAITING, keys, earliest):
            if rec["ticket_id"] in batch:
                continue
            text = f"{rec['title']}\n{rec['content']}"
            message = PriorMessage(
                rec["ticket_id"], text, rec["received_at"], rec["incident_id"], rec["citizen_key"]
            )
            prior.wait(message, rec["content_key"])
            waiting[rec["ticket_id"]] = Waiting(
                rec["received_at"], rec["content_key"], rec["incident_id"], rec["bucket"]
            )
        return waiting

    @staticmethod
    async def _link_late(
        conn: asyncpg.Connection,
        results: Sequence[GroupingResult],
        waiting: dict[str, Waiting],
    ) -> None:
        """Link the stored repeats whose original the batch held."""
        late = [(repeat, r.id) for r in results for repeat in r.repeats if repeat in waiting]
        if not late:
            return
        await conn.execute(
            _LINK_LATE,
            [repeat for repeat, _ in late],
            [waiting[repeat].received_at for repeat, _ in late],
            [original for _, original in late],
        )
        LATE_REPEATS.inc(len(late))

    @staticmethod
    async def _move_merged(conn: asyncpg.Connection, cache: IncidentCache) -> None:
        """Move the tickets of the incidents the batch merged (stored earlier) to their survivors."""
        if not cache.merges:
            return
        survivors = [cache.resolve(i) for i in cache.merges]
        await conn.execute(_MOVE_TICKETS, cache.merges, survivors)
        await conn.execute(_MOVE_MERGED, cache.merges, survivors)
        MERGED_INCIDENTS.inc(len(cache.merges))

    @staticmethod
    async def _write_incidents(conn: asyncpg.Connection, cache: IncidentCache) -> None:
        touched = [cache.incidents[i] for i in sorted(cache.touched)]
        if not touched:
            return
        columns: list[list[object]] = [[] for _ in range(14)]
        for inc in touched:
            values = (
                inc.incident_id, inc.bucket, inc.title, inc.category, inc.city, inc.district,
                "、".join(inc.places[:3]) or None, orjson.dumps(list(inc.places)).decode(), inc.size,
                inc.first_seen, inc.last_seen, orjson.dumps(inc.signature.to_json()).decode(),
                orjson.dumps(cache.keys_of.get(inc.incident_id, [])).decode(),
                cache.merged_into.get(inc.incident_id),
            )  # fmt: skip
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        written = await conn.fetch(_UPSERT, *columns)
        cache.written((rec["bucket"], rec["version"]) for rec in written)
