"""End-to-end latency: from the gateway's acceptance of a ticket to its processed event.

With a Kafka address, the run reads `complaints.events` (under the deployment's topic prefix) from the
offsets it had when the run began, and takes each ticket's first `ticket.processed` event: latency = the
event's Kafka timestamp (when the worker published it) − the event's `received_at` (when the gateway built
the record, just before its 202). Without Kafka it polls `GET /v1/complaints/{id}` for a sample of tickets and
takes `processed_at − received_at` of the stored ticket.

The same watch reads `complaints.urgent` for the urgent lane's figures (when each ticket first appeared
there), and it keeps the urgency each ticket's events gave it last (a later event may raise or lower it).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson

from loadtest.stats import Latency

# Bound on the events held in memory (other traffic on the same topic is kept too until matched).
MAX_EVENTS = 5_000_000
_CREATE_TIME = 0
_NORMAL = "normal"


@dataclass(frozen=True)
class Seen:
    """One ticket's processed event as observed."""

    received_at: float  # epoch seconds, from the event
    published_at: float  # epoch seconds: the Kafka timestamp, else when this reader got it
    duplicate_of: str | None
    incident_id: str | None
    # The urgent lane announced it: its first event on the desk topic was the lane's `ticket.urgent` (a ticket
    # the screen flagged past its situation's budget took the normal lane, and arrives as `ticket.processed`).
    lane: bool = False


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


@dataclass
class EventsWatch:
    """Reads the events topic in the background, from the end offsets at `start()`."""

    bootstrap: str
    topic: str
    seen: dict[str, Seen] = field(default_factory=dict)
    # (urgency, urgency_situation) of the tickets any event called other than normal, as their latest event
    # says; every other ticket seen is normal. Holding only these keeps a full day's memory small.
    flagged: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    records: int = 0
    error: str | None = None
    _consumer: Any = None
    _task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 20.0) -> None:
        """Connect and resolve every partition's position to its current end before anything is sent."""
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,  # no group: every partition is ours, nothing is committed
            enable_auto_commit=False,
            auto_offset_reset="latest",
            request_timeout_ms=int(timeout_s * 1000),
        )
        async with asyncio.timeout(timeout_s):
            await consumer.start()
            try:
                if self.topic not in await consumer.topics():
                    raise LookupError(f"topic {self.topic!r} does not exist (is the topic prefix right?)")
                while True:
                    if consumer.assignment():
                        break
                    await asyncio.sleep(0.05)
                # position() waits until "latest" is resolved, so no event after this point is skipped.
                for tp in consumer.assignment():
                    await consumer.position(tp)
            except BaseException:
                await consumer.stop()
                raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                batch = await self._consumer.getmany(timeout_ms=250, max_records=5000)
                now = time.time()
                for records in batch.values():
                    for rec in records:
                        self._take(rec, now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the run goes on without e2e figures; the report says why
            self.error = f"{type(exc).__name__}: {exc}"

    def _take(self, rec: Any, now: float) -> None:
        self.records += 1
        if rec.key is None or len(self.seen) >= MAX_EVENTS:
            return
        ticket_id = rec.key.decode(errors="replace")
        try:
            event = orjson.loads(rec.value)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict):
            return
        self._note_urgency(ticket_id, event)
        if ticket_id in self.seen:
            return  # a later (or redelivered) event of the ticket: the first one counts for the latency
        received = _epoch(event.get("received_at"))
        if received is None:
            return
        published = rec.timestamp / 1000.0 if rec.timestamp_type == _CREATE_TIME else now
        self.seen[ticket_id] = Seen(
            received,
            published,
            event.get("duplicate_of"),
            event.get("incident_id"),
            lane=event.get("event_type") == "ticket.urgent",
        )

    def _note_urgency(self, ticket_id: str, event: dict[str, Any]) -> None:
        urgency, situation = event.get("urgency"), event.get("urgency_situation")
        if not isinstance(urgency, str) or (urgency == _NORMAL and ticket_id not in self.flagged):
            return
        if len(self.flagged) < MAX_EVENTS or ticket_id in self.flagged:
            self.flagged[ticket_id] = (urgency, situation if isinstance(situation, str) else None)

    def urgency(self, ticket_id: str) -> tuple[str, str | None] | None:
        """The ticket's urgency and situation as its latest event gave them; None when no event was seen."""
        found = self.flagged.get(ticket_id)
        if found is not None:
            return found
        return (_NORMAL, None) if ticket_id in self.seen else None

    def matched(self, ticket_ids: set[str]) -> int:
        """How many of `ticket_ids` have had their event."""
        return sum(1 for t in ticket_ids if t in self.seen)

    def latency(self, ticket_ids: set[str]) -> Latency:
        """End-to-end latency of every ticket of `ticket_ids` whose event was seen."""
        lat = Latency()
        for t in ticket_ids:
            s = self.seen.get(t)
            if s is not None:
                lat.record(s.published_at - s.received_at)
        return lat

    async def stop(self) -> None:
        """Stop reading and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


async def poll_sample(
    target: str, ticket_ids: list[str], timeout_s: float, sample: int = 200, seed: int = 0
) -> tuple[Latency, int]:
    """Poll GET /v1/complaints/{id} for a sample until each is processed; (latency, sample size)."""
    chosen = random.Random(seed).sample(sorted(ticket_ids), min(sample, len(ticket_ids)))
    lat = Latency()
    pending = set(chosen)
    deadline = time.monotonic() + timeout_s
    limit = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=target, timeout=5) as http:

        async def check(ticket_id: str) -> None:
            async with limit:
                try:
                    resp = await http.get(f"/v1/complaints/{ticket_id}")
                except httpx.HTTPError:
                    return
            if resp.status_code != 200:
                return
            body = resp.json()
            received, processed = _epoch(body.get("received_at")), _epoch(body.get("processed_at"))
            if body.get("status") != "received" and received is not None and processed is not None:
                lat.record(processed - received)
                pending.discard(ticket_id)

        while pending and time.monotonic() < deadline:
            await asyncio.gather(*(check(t) for t in list(pending)))
            if pending:
                await asyncio.sleep(0.5)
    return lat, len(chosen)
