"""The incidents of the buckets a worker groups, kept in memory across batches and brought up to date under
each bucket's advisory lock by reading only what changed since (migration 0004: `incidents.version`).

Seeding a fresh in-memory store from Postgres for every batch read and indexed up to 2,000 incidents (~1 KB of
signature JSON each) per batch of 500 messages, and grouped against signatures rounded to 4 decimals. Here a
bucket is read whole once (incidents seen within the grouping window); after that a batch reads the rows of
its buckets whose version is above the highest this process has seen there — none when this worker is the
only one writing the bucket. Writes to a bucket happen under its lock and take versions from one sequence, so
a version committed after this process last held the lock is always above what it saw. One worker therefore
groups exactly as the offline engine does (the same store, the same full-precision signatures).

The memory is only as good as the transaction that changed it: the buckets a batch changes stay
"unconfirmed" until the caller confirms the commit, and are read again whole if it never does (a rollback, a
retry, a crash of the batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import asyncpg
import orjson

from workers.judgement.incidents import Incident
from workers.judgement.memory_store import InMemoryIncidentStore, attached, merged_incident
from workers.judgement.signature import IssueSignature

# A bucket holds at most this many incidents (the most recently seen): ~8 KB each with their parsed
# signature and index entries, so ~160 MB for a city whose 90-day window outgrows it.
MAX_INCIDENTS_PER_BUCKET = 20_000
# A bucket is read back this much further than the batch's window needs, so that the next batches — a little
# earlier on other partitions — still find everything they need in memory.
LOAD_MARGIN = timedelta(days=1)

_COLUMNS = """incident_id, bucket, title, category, city, district, places, size, first_seen, last_seen,
    signature::text AS signature, keys, version, merged_into"""
_LOAD = f"""
SELECT {_COLUMNS} FROM incidents
WHERE bucket = $1 AND last_seen >= $2 AND merged_into IS NULL
ORDER BY last_seen DESC, version DESC
LIMIT $3
"""
_CHANGED = f"SELECT {_COLUMNS} FROM incidents WHERE bucket = $1 AND version > $2 ORDER BY version"
# The incidents asked for, and those they were merged into.
_BY_ID = f"""
SELECT {_COLUMNS} FROM incidents
WHERE incident_id = ANY($1::text[])
   OR incident_id IN (SELECT merged_into FROM incidents WHERE incident_id = ANY($1::text[]))
ORDER BY version
"""


def incident_from_row(rec: asyncpg.Record) -> Incident:
    """An incident as read from Postgres."""
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
        signature=IssueSignature.from_json(orjson.loads(rec["signature"])),
    )


class IncidentCache(InMemoryIncidentStore):
    """The in-memory store the grouper works on, per process, with what each batch created or changed."""

    def __init__(self, max_per_bucket: int = MAX_INCIDENTS_PER_BUCKET) -> None:
        super().__init__()
        self.max_per_bucket = max_per_bucket
        # Created or changed by the batch in hand: written back before its commit.
        self.touched: set[str] = set()
        self.keys_of: dict[str, list[str]] = {}
        self._ids: dict[str, set[str]] = {}
        self._version: dict[str, int] = {}
        # Every incident of the bucket last seen at or after this is in memory (unless capped).
        self._horizon: dict[str, datetime] = {}
        self._capped: set[str] = set()
        self._unconfirmed: set[str] = set()
        # Incidents of buckets not in memory, read for one batch (a resubmission's incident in another city).
        self._foreign: set[str] = set()
        # Incidents the batch in hand merged into another, in the order it merged them.
        self.merges: list[str] = []

    # -- the batch's transaction --

    def begin(self) -> None:
        """Start a batch: forget the buckets of a batch whose commit was never confirmed."""
        if self._unconfirmed:
            # Its merges may not have happened: forget every merge; `ensure` reads back those still needed.
            self.merged_into.clear()
        for bucket in self._unconfirmed:
            self.drop(bucket)
        self._unconfirmed.clear()
        for incident_id in self._foreign:
            inc = self.incidents.get(incident_id)
            if inc is not None and inc.bucket not in self._version:
                self._forget(incident_id)
                self._index.pop(inc.bucket, None)
        self._foreign.clear()
        self.touched.clear()
        self.merges.clear()

    def confirm(self) -> None:
        """The batch's transaction committed: what it changed in memory is what Postgres holds."""
        self._unconfirmed.clear()
        for merged_id in self.merges:  # written back; from now on only `resolve` needs to know them
            inc = self.incidents.pop(merged_id, None)
            if inc is not None:
                self._ids.get(inc.bucket, set()).discard(merged_id)
            self.keys_of.pop(merged_id, None)
        self.merges.clear()
        for bucket in list(self._ids):
            if len(self._ids[bucket]) > self.max_per_bucket * 5 // 4:
                self._cap(bucket)

    async def sync(self, conn: asyncpg.Connection, bucket: str, since: datetime) -> None:
        """Bring `bucket` up to date for messages grouped against incidents seen since `since`; call holding
        the bucket's lock, in the transaction that writes it back."""
        self._unconfirmed.add(bucket)
        known = self._horizon.get(bucket)
        if known is None or (since < known and bucket not in self._capped):
            await self._load(conn, bucket, since - LOAD_MARGIN)
            return
        for rec in await conn.fetch(_CHANGED, bucket, self._version[bucket]):
            self._take(rec)

    async def ensure(self, conn: asyncpg.Connection, incident_ids: Iterable[str]) -> None:
        """Read the incidents the batch's resubmissions will join that memory lacks (their buckets locked)."""
        missing = sorted({i for i in incident_ids if i not in self.incidents and i not in self.merged_into})
        if missing:
            for rec in await conn.fetch(_BY_ID, missing):
                if rec["bucket"] in self._version:
                    self._version[rec["bucket"]] = max(self._version[rec["bucket"]], rec["version"])
                else:
                    self._foreign.add(rec["incident_id"])
                if rec["merged_into"] is not None:
                    self._absorbed(rec["merged_into"], rec["incident_id"])
                else:
                    self._add(incident_from_row(rec), rec["keys"])

    def written(self, versions: Iterable[tuple[str, int]]) -> None:
        """The versions the batch's own writes got, per bucket: nobody else wrote the bucket in between (its
        lock is held), so they are not read back."""
        for bucket, version in versions:
            if bucket in self._version:
                self._version[bucket] = max(self._version[bucket], version)

    # -- the store the grouper uses --

    def create(self, incident: Incident, keys: Sequence[str], message_id: str) -> None:
        """A new incident (no member lists as in the base class: this memory lives as long as the process)."""
        if incident.incident_id in self.incidents:
            return
        self._add(incident, keys)
        self.touched.add(incident.incident_id)

    def attach(
        self,
        incident_id: str,
        message_id: str,
        at: datetime,
        signature: IssueSignature | None,
        keys: Sequence[str],
    ) -> None:
        """One more message in an incident (the caller links each new ticket once)."""
        inc = attached(self.incidents[incident_id], at, signature)
        self._put(inc)
        self._touch(inc.bucket, incident_id, keys)
        if keys:
            self.keys_of[incident_id] = list(keys)
        self.touched.add(incident_id)

    def merge(self, survivor_id: str, merged_id: str, signature: IssueSignature, keys: Sequence[str]) -> None:
        """Make `merged_id` part of `survivor_id`; both rows are written back (the merged one with its
        `merged_into`), and `merges` tells the linker whose tickets to move."""
        survivor = merged_incident(self.incidents[survivor_id], self.incidents[merged_id], signature)
        self._put(survivor)
        self._touch(survivor.bucket, survivor_id, keys)
        self.keys_of[survivor_id] = list(keys)
        self._absorbed(survivor_id, merged_id)
        self.touched.update((survivor_id, merged_id))
        self.merges.append(merged_id)

    # -- internals --

    def drop(self, bucket: str) -> None:
        """Forget a bucket: it is read whole the next time it is needed."""
        for incident_id in self._ids.pop(bucket, set()):
            self._forget(incident_id)
        self._index.pop(bucket, None)
        self._version.pop(bucket, None)
        self._horizon.pop(bucket, None)
        self._capped.discard(bucket)

    async def _load(self, conn: asyncpg.Connection, bucket: str, since: datetime) -> None:
        self.drop(bucket)
        rows = await conn.fetch(_LOAD, bucket, since, self.max_per_bucket + 1)
        if len(rows) > self.max_per_bucket:
            rows = rows[: self.max_per_bucket]
            self._capped.add(bucket)
            since = rows[-1]["last_seen"]
        self._ids[bucket] = set()
        self._version[bucket] = 0
        self._horizon[bucket] = since
        # Oldest first: each key's posting ends with the most recently seen, as if grouped here in order.
        for rec in reversed(rows):
            self._take(rec)

    def _take(self, rec: asyncpg.Record) -> None:
        """Put a row of a bucket in memory, as the most recently touched of its keys (a row merged into
        another incident by another worker: no longer a candidate, and resolved to that incident)."""
        bucket = rec["bucket"]
        self._version[bucket] = max(self._version[bucket], rec["version"])
        if rec["merged_into"] is not None:
            self._absorbed(rec["merged_into"], rec["incident_id"])
            self.incidents.pop(rec["incident_id"], None)
            self._ids.get(bucket, set()).discard(rec["incident_id"])
            return
        # Older than what the bucket holds: never a candidate here, and at the end of its postings it would
        # stop their walk early (postings are walked newest first, up to the first one out of the window).
        if rec["last_seen"] < self._horizon[bucket]:
            return
        self._add(incident_from_row(rec), rec["keys"])

    def _add(self, incident: Incident, keys: Sequence[str]) -> None:
        self._put(incident)
        self._touch(incident.bucket, incident.incident_id, keys)
        self.keys_of[incident.incident_id] = list(keys)
        self._ids.setdefault(incident.bucket, set()).add(incident.incident_id)

    def _forget(self, incident_id: str) -> None:
        self.incidents.pop(incident_id, None)
        self._candidates.pop(incident_id, None)
        self.keys_of.pop(incident_id, None)

    def _cap(self, bucket: str) -> None:
        """Keep the bucket's most recently seen incidents; their postings lose the others."""
        ids = self._ids[bucket]
        ranked = sorted(ids, key=lambda i: self.incidents[i].last_seen, reverse=True)
        for incident_id in ranked[self.max_per_bucket :]:
            self._forget(incident_id)
            ids.discard(incident_id)
        self._horizon[bucket] = self.incidents[ranked[self.max_per_bucket - 1]].last_seen
        self._capped.add(bucket)
        for posting in self._index.get(bucket, {}).values():
            for incident_id in [i for i in posting if i not in ids]:
                del posting[incident_id]
