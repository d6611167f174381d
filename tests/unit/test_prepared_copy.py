"""COPY records built before the links are decided (workers/store.py, PreparedCopy)."""

from __future__ import annotations

from datetime import UTC, datetime

from workers.store import PreparedCopy, copy_records
from workers.ticket import TicketRow

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _row(ticket_id: str) -> TicketRow:
    return TicketRow(
        ticket_id=ticket_id, received_at=NOW, processed_at=NOW, status="processed", channel="web",
        external_id=f"ext-{ticket_id}", title="路灯不亮", content="新华路路灯坏了", citizen_key="tel:1",
        district="海淀区", address=None, category="市政", category_confidence=0.9, needs_review=False,
        review_reasons=["flood"], urgency="normal", urgency_reason=None, department="城管",
        duplicate_of=None, incident_id=None, submission={"channel": "web", "content": "新华路路灯坏了"},
        source_partition=3, source_offset=7,
    )  # fmt: skip


def test_the_records_carry_the_links_decided_after_they_were_built() -> None:
    rows = [_row("JS1"), _row("JS2")]
    prepared = PreparedCopy(rows)
    rows[0].incident_id, rows[0].duplicate_of = "inc-JS0", "JS0"
    rows[1].incident_id = "inc-JS2"
    assert [tuple(r) for r in prepared.records()] == copy_records(rows)


def test_nothing_but_the_links_is_read_again() -> None:
    rows = [_row("JS1")]
    prepared = PreparedCopy(rows)
    rows[0].title = "changed after preparing"
    (record,) = prepared.records()
    assert "路灯不亮" in record
    assert "changed after preparing" not in record
