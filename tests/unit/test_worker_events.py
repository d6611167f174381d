"""Publishing a batch's events: one send_many when the producer has it, any refusal fails the batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from ingest.bus import BusUnavailable
from ingest.bus.base import Headers, Outgoing
from workers.events import publish_processed
from workers.ticket import TicketRow

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _row(ticket_id: str, urgency: str = "normal") -> TicketRow:
    return TicketRow(
        ticket_id=ticket_id, received_at=NOW, processed_at=NOW, status="processed", channel="web",
        external_id=None, title="路灯不亮", content="新华路路灯坏了", citizen_key=None, district=None,
        address=None, category=None, category_confidence=None, needs_review=True, review_reasons=[],
        urgency=urgency, urgency_reason=None, department=None, duplicate_of=None, incident_id=None,
        submission={}, source_partition=0, source_offset=0,
    )  # fmt: skip


class _Many:
    def __init__(self, refuse: int | None = None) -> None:
        self.refuse = refuse
        self.batches: list[list[Outgoing]] = []

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ready(self) -> bool:
        return True

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        raise AssertionError("one send_many, not a send per event")

    async def send_many(self, records: Sequence[Outgoing]) -> list[BusUnavailable | None]:
        self.batches.append(list(records))
        return [BusUnavailable("no ack") if i == self.refuse else None for i in range(len(records))]


class _One:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ready(self) -> bool:
        return True

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        self.sent.append(topic)


async def test_events_go_in_one_send_many_critical_ones_twice() -> None:
    producer = _Many()
    rows = [_row("t1"), _row("t2", urgency="critical")]
    assert await publish_processed(producer, rows, {"t1": "trace"}, "p.", NOW) == 3
    [batch] = producer.batches
    assert [(topic, key) for topic, _, key, _ in batch] == [
        ("p.complaints.events", b"t1"), ("p.complaints.events", b"t2"), ("p.complaints.urgent", b"t2"),
    ]  # fmt: skip


async def test_one_unacknowledged_event_fails_the_batch() -> None:
    with pytest.raises(BusUnavailable):
        await publish_processed(_Many(refuse=1), [_row("t1"), _row("t2")], {}, "", NOW)


async def test_a_producer_without_send_many_sends_each() -> None:
    # Every BusProducer has send_many now (ingest/bus/base.py); workers/events.py still takes one without.
    producer: Any = _One()
    assert await publish_processed(producer, [_row("t1"), _row("t2", urgency="critical")], {}, "", NOW) == 3
    assert len(producer.sent) == 3
