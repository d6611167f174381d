"""Publishing a batch's events: one send_many per batch, any refusal fails the batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import pytest

from ingest.bus import BusUnavailable
from ingest.bus.base import Headers, Outgoing
from workers.events import processed_event, publish_processed, publish_urgent
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


async def test_the_urgent_lane_announces_on_the_desk_topic_only_without_links() -> None:
    producer = _Many()
    row = _row("t1", urgency="critical")
    row.incident_id, row.urgent_screen = "inc-t1", "gas_leak"
    assert await publish_urgent(producer, [row], {}, "p.", NOW) == 1
    [[(topic, value, key, headers)]] = producer.batches
    event = orjson.loads(value)
    assert (topic, key, event["event_type"]) == ("p.complaints.urgent", b"t1", "ticket.urgent")
    assert "incident_id" not in event and "duplicate_of" not in event
    assert (event["urgency"], event["urgency_change"]) == ("critical", "confirmed")
    assert ("event_type", b"ticket.urgent") in (headers or [])


def test_events_are_masked_unless_told_not_to() -> None:
    row = dataclasses.replace(
        _row("t1"), content="燃气泄漏，请回电13800138000", address="幸福里3号 13900139000"
    )
    masked = processed_event(row)
    assert masked.content == "燃气泄漏，请回电138****8000"
    assert masked.address == "幸福里3号 139****9000"
    assert processed_event(row, mask=False).content == row.content
    assert row.content == "燃气泄漏，请回电13800138000"  # the stored row itself is untouched
