"""The detector's alerts and the rollup worker's counting, without services."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from ingest.bus import BusMessage, BusUnavailable
from ingest.reports.hours import hour_of
from ingest.schemas.reports import Hotspot
from ingest.settings import Settings
from workers.rollups.apply import BadEvent, decode, decode_batch, tally
from workers.rollups.detector import AlertRules, count_alerts, incident_alerts
from workers.rollups.metrics import BAD_EVENTS
from workers.rollups.worker import is_transient

NOW = datetime(2026, 12, 7, 1, 20, tzinfo=UTC)
HOUR = hour_of(NOW, ZoneInfo("Asia/Shanghai"))


def _event(ticket_id: str, **fields: object) -> BusMessage:
    body = {
        "event_type": "ticket.processed",
        "ticket_id": ticket_id,
        "received_at": "2026-12-07T09:15:00+08:00",
        "channel": "wechat",
        "district": "朝阳区",
        "category": "城乡建设",
        "urgency": "normal",
        "incident_id": None,
        **fields,
    }
    return BusMessage("complaints.events", 0, 0, ticket_id.encode(), orjson.dumps(body))


def test_a_processed_event_counts_in_its_utc_hour() -> None:
    item = decode(_event("JS1", urgency="critical", incident_id="inc-1", district=None))
    assert item is not None
    assert item.hour == datetime(2026, 12, 7, 1, tzinfo=UTC)
    assert item.urgent and item.district == "" and item.incident_id == "inc-1"


def test_status_changes_are_not_counted() -> None:
    changed = BusMessage(
        "complaints.events", 0, 0, b"JS1", b"{}", headers=[("event_type", b"ticket.status_changed")]
    )
    assert decode(changed) is None
    assert decode(_event("JS1", event_type="ticket.status_changed")) is None


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[1]", orjson.dumps({"event_type": "ticket.processed", "ticket_id": "JS1"})],
)
def test_an_unreadable_event_is_refused(value: bytes) -> None:
    with pytest.raises(BadEvent):
        decode(BusMessage("complaints.events", 0, 0, None, value))


def test_a_batch_counts_each_ticket_once_and_skips_what_it_cannot_read() -> None:
    before = BAD_EVENTS._value.get()
    bad = BusMessage("complaints.events", 0, 3, None, b"{")
    items = decode_batch([_event("JS1"), _event("JS1"), bad, _event("JS2", channel="web")])
    assert [i.ticket_id for i in items] == ["JS1", "JS2"]
    assert BAD_EVENTS._value.get() - before == 1


def test_tally_adds_up_by_cell_and_by_incident() -> None:
    items = [
        decode(_event("JS1", incident_id="inc-1", urgency="high")),
        decode(_event("JS2", incident_id="inc-1")),
        decode(_event("JS3", channel="web")),
    ]
    counts = tally([i for i in items if i is not None])
    hour = datetime(2026, 12, 7, 1, tzinfo=UTC)
    assert counts.tickets[(hour, "朝阳区", "城乡建设", "wechat")] == 2
    assert counts.urgent[(hour, "朝阳区", "城乡建设", "wechat")] == 1
    assert counts.tickets[(hour, "朝阳区", "城乡建设", "web")] == 1
    assert counts.incidents == {(hour, "inc-1"): 2}


def test_alert_rules_come_from_the_settings() -> None:
    rules = AlertRules.from_settings(
        Settings(alert_min_count=7, alert_incident_growth=9, alert_min_ratio=2.5)
    )
    assert rules.counts.min_count == 7 and rules.counts.min_ratio == 2.5 and rules.incident_growth == 9


def test_a_count_alert_has_one_id_per_cell_and_hour_and_says_it_in_chinese() -> None:
    spike = Hotspot(
        district="朝阳区", category="城乡建设", tickets=120, baseline=4.0, expected=1.33, score=103.9
    )
    (alert,) = count_alerts(HOUR, [spike], NOW)
    assert alert.alert_id == "count_spike:20261207T01Z:朝阳区:城乡建设"
    assert alert.observed == 120 and alert.baseline == 4.0 and alert.score == 103.9
    assert alert.message == "朝阳区·城乡建设：本小时已受理120件，常态每小时4件（得分103.9）"
    (again,) = count_alerts(HOUR, [spike.model_copy(update={"tickets": 150})], NOW)
    assert again.alert_id == alert.alert_id  # the same spike later in the hour is the same alert


def test_incident_alerts_growth_per_hour_and_size_once() -> None:
    row = {
        "incident_id": "inc-9",
        "growth": 45,
        "title": "学院路燃气管道破裂",
        "category": "城乡建设",
        "district": "海淀区",
        "place": "学院路",
        "size": 230,
        "first_seen": NOW,
    }
    growth, size = incident_alerts(HOUR, [row], [row], NOW)
    assert growth.kind == "incident_growth" and growth.alert_id == "incident_growth:20261207T01Z:inc-9"
    assert growth.message == "事件“学院路燃气管道破裂”（学院路）本小时新增45件，累计230件"
    assert size.kind == "incident_size" and size.alert_id == "incident_size:inc-9"
    assert size.observed == 230 and size.subject["place"] == "学院路"


def test_the_reports_worker_retries_the_database_and_the_bus_but_not_a_bug() -> None:
    assert is_transient(BusUnavailable("no ack"))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(KeyError("incident_id"))
