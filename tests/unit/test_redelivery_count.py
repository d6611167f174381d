"""Already-stored tickets are counted by why they came again: Kafka redelivering the record that stored them
(`jiesu_worker_redelivered_total`) or a client repeating the submission (`jiesu_worker_client_repeats_total`).

The batch runs through the real BatchProcessor; only Postgres is replaced by a dict keyed by ticket id (the
real store's idempotency is tested on Postgres in tests/integration/test_worker_store.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from ingest.bus import BusMessage
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessProducer
from ingest.settings import Settings
from tests.api_support import wechat_record
from workers import store
from workers.batch import BatchProcessor, Decoded, redelivered_or_repeated
from workers.dead_letters import DeadLetters
from workers.judgement.judge import Judgement
from workers.ticket import TicketRow


def _message(ticket_id: str, partition: int, offset: int) -> BusMessage:
    return BusMessage("complaints.intake", partition, offset, b"k", wechat_record(ticket_id).to_bytes())


class _Judge:
    def judge_many(self, messages: list[tuple[str, str, str | None]]) -> list[Judgement]:
        return [Judgement("市政管理", 0.9, False, "normal", None, "市城市管理委") for _ in messages]


class _Conn:
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield


class _Pool:
    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_Conn]:
        yield _Conn()


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> dict[str, TicketRow]:
    """Stands in for Postgres: ticket id → the row first stored under it."""
    rows: dict[str, TicketRow] = {}

    async def ensure_partitions(conn: Any, batch: list[TicketRow], known: set[datetime]) -> None:
        return None

    async def claim_new(conn: Any, batch: list[TicketRow]) -> set[str]:
        return {r.ticket_id for r in batch if r.ticket_id not in rows}

    async def insert_tickets(conn: Any, batch: list[TicketRow], prepared: Any = None) -> None:
        rows.update((r.ticket_id, r) for r in batch)

    async def load_stored(conn: Any, ticket_ids: list[str]) -> list[TicketRow]:
        return [rows[t] for t in ticket_ids]

    monkeypatch.setattr(store, "ensure_partitions", ensure_partitions)
    monkeypatch.setattr(store, "claim_new", claim_new)
    monkeypatch.setattr(store, "insert_tickets", insert_tickets)
    monkeypatch.setattr(store, "load_stored", load_stored)
    monkeypatch.setattr(store, "PreparedCopy", lambda batch: None)
    return rows


def _counts() -> tuple[float, float, float]:
    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    return (
        value("jiesu_worker_tickets_stored_total"),
        value("jiesu_worker_redelivered_total"),
        value("jiesu_worker_client_repeats_total"),
    )


def _processor() -> BatchProcessor:
    settings = Settings()
    producer = InProcessProducer(in_process_broker(settings))
    dead_letters = DeadLetters(producer, "", 100, 60)
    return BatchProcessor(_Pool(), producer, _Judge(), dead_letters, link=False)  # type: ignore[arg-type]


def _delta(before: tuple[float, float, float]) -> tuple[float, float, float]:
    return tuple(after - b for after, b in zip(_counts(), before, strict=True))  # type: ignore[return-value]


async def test_kafka_redelivery_and_client_repeat_are_counted_apart(stored: dict[str, TicketRow]) -> None:
    processor = _processor()
    a, b = f"T-{uuid.uuid4().hex}", f"T-{uuid.uuid4().hex}"
    first = [_message(a, 3, 10), _message(b, 3, 11)]

    before = _counts()
    await processor.process(first)
    assert _delta(before) == (2, 0, 0)

    # A crash or a rebalance before the commit: Kafka delivers the very same records again.
    before = _counts()
    await processor.process(first)
    assert _delta(before) == (0, 2, 0)

    # A client retries `a` (same external id, so the same ticket id): a new record, at a later offset.
    before = _counts()
    await processor.process([_message(a, 3, 57)])
    assert _delta(before) == (0, 0, 1)

    # The same partition number on another offset is still a repeat; the same offset on another partition too.
    before = _counts()
    await processor.process([_message(b, 3, 10), _message(a, 4, 10)])
    assert _delta(before) == (0, 0, 2)


async def test_a_repeat_inside_one_batch_is_a_client_repeat(stored: dict[str, TicketRow]) -> None:
    processor = _processor()
    c = f"T-{uuid.uuid4().hex}"
    before = _counts()
    await processor.process([_message(c, 0, 1), _message(c, 0, 2)])
    assert _delta(before) == (1, 0, 1)
    assert (stored[c].source_partition, stored[c].source_offset) == (0, 1)


def test_split_reads_the_stored_rows_source() -> None:
    rows = {t: Decoded(_message(t, 2, 5), wechat_record(t)) for t in ("x", "y")}
    row_x = BatchProcessor._row(rows["x"], _Judge().judge_many([("", "", None)])[0], datetime.now(UTC))
    row_y = BatchProcessor._row(rows["y"], _Judge().judge_many([("", "", None)])[0], datetime.now(UTC))
    row_y.source_offset = 4  # y was stored from an earlier record: this one repeats it
    assert redelivered_or_repeated([row_x, row_y], rows) == (1, 1)
    assert redelivered_or_repeated([], rows) == (0, 0)
