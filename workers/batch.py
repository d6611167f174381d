"""One batch through the worker: decode → classify → one transaction → publish. Offsets are the caller's.

Error split (after getsentry/arroyo): a record that can never succeed (undecodable, invalid, refused by the
database) goes to the dead-letter topic and the batch moves on; a dependency failure raises TransientError so
the caller retries the same batch without committing; anything else propagates and stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson
from pydantic import ValidationError

from ingest.bus import BusMessage, BusProducer, BusUnavailable, Offsets
from ingest.schemas.records import IntakeRecord
from workers import store
from workers.dead_letters import DeadLetters, Rejected
from workers.errors import TransientError
from workers.events import publish_processed, publish_urgent, send_all
from workers.judgement.incidents import incident_id_for
from workers.judgement.judge import Judge, Judgement
from workers.judgement.resubmission import content_key, says_repeat
from workers.lane_headers import FORWARDED_HEADER, copied, from_another_lane
from workers.linking import BatchLinker
from workers.metrics import (
    BATCH_SECONDS,
    BATCH_SIZE,
    CLIENT_REPEATS,
    DUPLICATES,
    INCIDENTS,
    LINKED_AFTER_URGENT,
    REDELIVERED,
    STORED,
)
from workers.ticket import TicketRow

log = logging.getLogger("jiesu.worker")

# Messages judged between two yields to the event loop (a slice is tens of milliseconds of CPU).
JUDGE_SLICE = 200

# SQLSTATE classes that mean "the database, not the data": connection (08), resources (53),
# operator intervention such as a restart (57), transaction rollback like serialization or deadlock (40).
# A standby that refuses writes during a failover (25) is transient too.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "25", "53", "57", "40")
# Only these mean "this row's data": a data exception (22, e.g. a NUL byte) or a violated constraint (23, e.g.
# no partition for an archived month). Anything else (a missing table, a permission) is a deploy problem: the
# worker stops rather than dead-letter every record.
_DATA_SQLSTATE_CLASSES = ("22", "23")


def _sqlstate_class(exc: BaseException) -> str:
    return str(getattr(exc, "sqlstate", "") or "")[:2]


def is_transient_db_error(exc: BaseException) -> bool:
    """True when retrying the same statement later can succeed."""
    # InternalClientError: asyncpg's protocol state broke with the connection (seen when the database shut
    # down mid-statement); the pool discards that connection, and the retry gets a fresh one.
    if isinstance(exc, OSError | TimeoutError | asyncpg.InterfaceError | asyncpg.InternalClientError):
        return True
    return isinstance(exc, asyncpg.PostgresError) and _sqlstate_class(exc) in _TRANSIENT_SQLSTATE_CLASSES


def is_data_refusal(exc: BaseException) -> bool:
    """True when the database refused the data itself, so the same rows can never be stored."""
    return isinstance(exc, asyncpg.PostgresError) and _sqlstate_class(exc) in _DATA_SQLSTATE_CLASSES


def redelivered_or_repeated(earlier: list[TicketRow], by_id: dict[str, Decoded]) -> tuple[int, int]:
    """Of the batch's tickets that were already stored: how many came again because Kafka redelivered the
    record that stored them (same partition and offset as the stored row), and how many because a client
    repeated the submission (another record, at another offset).

    A record that came from another lane (forwarded or rescreened) is neither. The row does not say which
    lane's topic stored it: a repeat on the other lane at the very same partition and offset would count as a
    redelivery (possible, but the offsets of two topics rarely meet).
    """
    redelivered = repeated = 0
    for row in earlier:
        msg = by_id[row.ticket_id].message
        if from_another_lane(msg):
            continue
        if (row.source_partition, row.source_offset) == (msg.partition, msg.offset):
            redelivered += 1
        else:
            repeated += 1
    return redelivered, repeated


@dataclass
class Stored:
    """What a batch's transaction found and did."""

    # Stored by this transaction.
    new: list[TicketRow]
    # Stored before: redelivered, repeated by a client, or passed on by the urgent lane.
    earlier: list[TicketRow]
    # Of `earlier`, those the urgent lane stored unlinked and this transaction linked.
    linked: list[TicketRow]

    def __iadd__(self, other: Stored) -> Stored:
        self.new += other.new
        self.earlier += other.earlier
        self.linked += other.linked
        return self

    @property
    def rows(self) -> list[TicketRow]:
        """Every stored row of the batch."""
        return self.new + self.earlier


def judgement_review_reasons(verdict: Judgement) -> list[str]:
    """Why the judgement wants a person to look (so that `needs_review` always has its reason)."""
    if not verdict.needs_review:
        return []
    if verdict.category is None:
        return ["no category: choose one and its department"]
    return [f"category uncertain ({verdict.category_confidence or 0:.2f}): check the category and department"]


@dataclass
class Decoded:
    """A record read from the bus, parsed."""

    message: BusMessage
    record: IntakeRecord


def decode(messages: list[BusMessage]) -> tuple[list[Decoded], list[Rejected]]:
    """Parse every message; the unparseable are rejected with the reason."""
    good: list[Decoded] = []
    bad: list[Rejected] = []
    for msg in messages:
        try:
            good.append(Decoded(msg, IntakeRecord.from_bytes(msg.value)))
        except (ValidationError, orjson.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            bad.append(Rejected(msg, f"{type(exc).__name__}: {reason}", "decode"))
    return good, bad


def next_offsets(messages: list[BusMessage]) -> Offsets:
    """Per partition, the offset after the last message of the batch."""
    offsets: Offsets = {}
    for msg in messages:
        key = (msg.topic, msg.partition)
        offsets[key] = max(offsets.get(key, 0), msg.offset + 1)
    return offsets


class BatchProcessor:
    """Processes batches for one worker: its classifier, database pool, producer and dead-letter sender."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: BusProducer,
        judge: Judge,
        dead_letters: DeadLetters,
        topic_prefix: str = "",
        *,
        link: bool = True,
        forward_to: str | None = None,
        mask_events: bool = True,
    ) -> None:
        """`forward_to` makes the urgent lane's processor: it stores tickets unlinked, announces them at once
        (`ticket.urgent`) and passes their records on to that intake topic, whose worker links them and
        publishes their `ticket.processed`; so an urgent ticket never waits for the incident bucket locks.
        `mask_events` masks the personal numbers in the events' texts (JIESU_EVENTS_PERSONAL_DATA unset)."""
        self._mask_events = mask_events
        self._pool = pool
        self._producer = producer
        self._judge = judge
        # Resubmission and incident links, decided inside the batch's transaction.
        self._linker = BatchLinker(judge) if link and forward_to is None else None
        self._forward_to = forward_to
        self._dead_letters = dead_letters
        self._prefix = topic_prefix
        self._known_months: set[datetime] = set()

    @staticmethod
    def _row(item: Decoded, verdict: Judgement, now: datetime) -> TicketRow:
        rec = item.record
        return TicketRow(
            ticket_id=rec.ticket_id,
            received_at=rec.received_at,
            processed_at=now,
            status="processed",
            channel=rec.channel,
            external_id=rec.external_id,
            title=rec.title,
            content=rec.content,
            citizen_key=rec.citizen_key,
            district=verdict.district,
            address=rec.address,
            category=verdict.category,
            category_confidence=verdict.category_confidence,
            needs_review=verdict.needs_review or bool(rec.review_reasons),
            review_reasons=list(rec.review_reasons) + judgement_review_reasons(verdict),
            urgency=verdict.urgency,
            urgency_reason=verdict.urgency_reason,
            department=verdict.department,
            duplicate_of=None,
            incident_id=None,
            submission=rec.submission,
            source_partition=item.message.partition,
            source_offset=item.message.offset,
            urgency_situation=verdict.urgency_situation,
            urgent_screen=rec.urgent_screen,
            content_key=content_key(rec.content),
            says_repeat=says_repeat(rec.content),
            adapter_district=rec.district,
        )

    async def _store(self, rows: list[TicketRow], by_id: dict[str, Decoded]) -> Stored:
        """One transaction: claim ids, link, insert the new rows, read back the ones stored before."""
        async with self._pool.acquire() as conn:
            # Partitions are created first, each in a transaction of its own: DDL holds a lock on `tickets`
            # until commit, and holding it while waiting for an incident bucket lock could deadlock.
            await store.ensure_partitions(conn, rows, self._known_months)
            async with conn.transaction():
                done = await self._store_in_transaction(conn, rows)
            if self._linker is not None:
                # Only now does the linker's memory of the incidents match what Postgres holds.
                self._linker.confirm()
        # Counted once the transaction has committed.
        STORED.inc(len(done.new))
        # A ticket the urgent lane stored and this transaction linked came through the lane, not again.
        linked_ids = {row.ticket_id for row in done.linked}
        again = [row for row in done.earlier if row.ticket_id not in linked_ids]
        redelivered, repeated = redelivered_or_repeated(again, by_id)
        REDELIVERED.inc(redelivered)
        CLIENT_REPEATS.inc(repeated)
        LINKED_AFTER_URGENT.inc(len(done.linked))
        if self._linker is not None:
            linked_now = done.new + done.linked
            DUPLICATES.inc(sum(1 for row in linked_now if row.duplicate_of))
            INCIDENTS.inc(sum(1 for row in linked_now if row.incident_id == incident_id_for(row.ticket_id)))
        return done

    async def _store_in_transaction(self, conn: asyncpg.Connection, rows: list[TicketRow]) -> Stored:
        new_ids = await store.claim_new(conn, rows)
        done = Stored(
            new=[r for r in rows if r.ticket_id in new_ids],
            earlier=await store.load_stored(conn, [r.ticket_id for r in rows if r.ticket_id not in new_ids]),
            linked=[],
        )
        # Before linking takes the bucket locks, which the other workers wait for: all but the links.
        prepared = store.PreparedCopy(done.new)
        if self._linker is not None:
            done.linked = await self._take_unlinked(conn, done.earlier)
            to_link = done.new + done.linked
            links = await self._linker.link(conn, to_link)
            for row in to_link:
                row.duplicate_of = links[row.ticket_id].duplicate_of
                row.incident_id = links[row.ticket_id].incident_id
        await store.insert_tickets(conn, done.new, prepared)
        await store.set_links(conn, done.linked)
        return done

    @staticmethod
    async def _take_unlinked(conn: asyncpg.Connection, earlier: list[TicketRow]) -> list[TicketRow]:
        """Of the stored rows, lock and return those the urgent lane stored and nobody has linked yet."""
        waiting = [r for r in earlier if r.incident_id is None]
        locked = await store.lock_unlinked(conn, waiting)
        if len(locked) < len(waiting):
            # Linked by another worker since they were read (a partition's old owner, during a rebalance):
            # read them again, so that their events carry the links they have.
            again = {r.ticket_id: r for r in await store.load_stored(
                conn, [r.ticket_id for r in waiting if r.ticket_id not in locked]
            )}  # fmt: skip
            earlier[:] = [again.get(r.ticket_id, r) for r in earlier]
        return [r for r in earlier if r.ticket_id in locked]

    async def _store_isolating(
        self, rows: list[TicketRow], by_id: dict[str, Decoded]
    ) -> tuple[Stored, list[Rejected]]:
        """Store the batch; if the database refuses its data, store row by row and reject the culprits."""
        try:
            return await self._store(rows, by_id), []
        except Exception as exc:
            if is_transient_db_error(exc):
                raise TransientError(f"database: {exc!r}") from exc
            if not is_data_refusal(exc):
                raise
            log.warning("database refused a batch; storing row by row", extra={"error": str(exc)})
        stored = Stored([], [], [])
        rejected: list[Rejected] = []
        for row in rows:
            try:
                stored += await self._store([row], by_id)
            except asyncpg.PostgresError as exc:
                if is_transient_db_error(exc):
                    raise TransientError(f"database: {exc!r}") from exc
                if not is_data_refusal(exc):
                    raise
                rejected.append(
                    Rejected(by_id[row.ticket_id].message, f"database refused: {exc}", "database")
                )
        return stored, rejected

    async def _judge_yielding(self, items: list[Decoded]) -> list[Judgement]:
        """Judge the batch in slices, letting the event loop run between them: judging is CPU work, and the
        urgent lane's loop in the same process must not wait for a whole large batch of the normal one."""
        verdicts: list[Judgement] = []
        for start in range(0, len(items), JUDGE_SLICE):
            if start:
                await asyncio.sleep(0)
            part = items[start : start + JUDGE_SLICE]
            verdicts += self._judge.judge_many(
                [(i.record.title, i.record.content, i.record.district) for i in part]
            )
        return verdicts

    async def _publish(
        self, rows: list[TicketRow], trace_ids: dict[str, str], by_id: dict[str, Decoded], now: datetime
    ) -> None:
        """The normal lane publishes `ticket.processed`; the urgent lane `ticket.urgent`, then passes the
        records of its unlinked tickets on to the normal lane (after the announcement: the desk first).

        The urgent lane says nothing of a ticket the normal lane has linked already: that lane has published
        its `ticket.processed`, and an announcement after it would tell the desk less, later. (The sentinel's
        copy of a record can reach the urgent lane after the normal lane took the original.)"""
        if self._forward_to is None:
            await publish_processed(
                self._producer, rows, trace_ids, self._prefix, now, mask=self._mask_events
            )
            return
        unlinked = [r for r in rows if r.incident_id is None]
        await publish_urgent(self._producer, unlinked, trace_ids, self._prefix, now, mask=self._mask_events)
        # A rescreened record's original is on the normal lane already: it is not passed on again.
        messages = [by_id[r.ticket_id].message for r in unlinked]
        await send_all(self._producer, copied(messages, self._forward_to, FORWARDED_HEADER))

    async def process(self, messages: list[BusMessage]) -> Offsets:
        """Process a batch fully; return the offsets to commit. Raises TransientError to be retried."""
        started = time.perf_counter()
        decoded, rejected = decode(messages)
        # The same ticket twice in one batch is a client retry: keep the first, the second is a no-op anyway.
        by_id: dict[str, Decoded] = {}
        for item in decoded:
            by_id.setdefault(item.record.ticket_id, item)
        now = datetime.now(UTC)
        items = list(by_id.values())
        verdicts = await self._judge_yielding(items)
        rows = [self._row(item, verdict, now) for item, verdict in zip(items, verdicts, strict=True)]
        stored, refused = await self._store_isolating(rows, by_id) if rows else (Stored([], [], []), [])
        trace_ids = {tid: item.record.trace_id for tid, item in by_id.items()}
        try:
            await self._publish(stored.rows, trace_ids, by_id, now)
            await self._dead_letters.send(rejected + refused)
        except BusUnavailable as exc:
            raise TransientError(f"bus: {exc}") from exc
        BATCH_SIZE.observe(len(messages))
        CLIENT_REPEATS.inc(len(decoded) - len(by_id))  # the same ticket again within the batch
        BATCH_SECONDS.observe(time.perf_counter() - started)
        return next_offsets(messages)
