"""docs/subscriber_example.py on a stand-in for aiokafka: several topics, JSON lines or summaries, a stop
after N events or an idle time, Kafka's address from the environment or .data/services.env. (It runs against
the real Kafka in tests/integration/test_read_api.py.)"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

from ingest.bus import BusMessage
from ingest.schemas.events import TicketStatusChanged
from ingest.schemas.records import IntakeRecord
from workers.batch import BatchProcessor, Decoded
from workers.events import processed_event
from workers.judgement.judge import Judgement

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "subscriber_example.py"
T0 = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("subscriber_example", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class _Record:
    topic: str
    partition: int
    offset: int
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def _processed(ticket_id: str, urgency: str = "normal") -> bytes:
    record = IntakeRecord(
        ticket_id=ticket_id,
        channel="wechat",
        external_id=ticket_id,
        received_at=T0,
        content="燃气味很重",
        citizen_key="wx:o1",
        trace_id="t",
        submission={"channel": "wechat", "content": "燃气味很重"},
    )
    situation = "gas_leak" if urgency != "normal" else None
    verdict = Judgement("城乡建设", 0.9, False, urgency, None, "市燃气集团", situation, "朝阳区")
    item = Decoded(BusMessage("complaints.intake", 0, 0, b"k", record.to_bytes()), record)
    return processed_event(BatchProcessor._row(item, verdict, T0)).to_bytes()


def _status(ticket_id: str, seq: int) -> bytes:
    return TicketStatusChanged(
        event_id=f"{ticket_id}:{seq}",
        ticket_id=ticket_id,
        seq=seq,
        from_status="processed",
        to_status="dispatched",
        changed_at=T0,
        actor="dispatch",
        note=None,
        department="市燃气集团",
        received_at=T0,
        channel="wechat",
        category=None,
        district=None,
        urgency="normal",
    ).to_bytes()


def _headers(event_type: str, version: str = "1") -> list[tuple[str, bytes]]:
    return [("event_type", event_type.encode()), ("schema_version", version.encode())]


class _Kafka:
    """Stands in for AIOKafkaConsumer: hands out the queued batches, then nothing."""

    made: ClassVar[list[_Kafka]] = []

    def __init__(self, *topics: str, **options: Any) -> None:
        self.topics, self.options = list(topics), options
        self.batches: list[list[_Record]] = [list(b) for b in _Kafka.queued]
        self.commits = self.polls = 0
        self.max_records: list[int | None] = []
        self.stopped = False
        _Kafka.made.append(self)

    queued: ClassVar[list[list[_Record]]] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def commit(self) -> None:
        self.commits += 1

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> dict[str, list[_Record]]:
        self.polls += 1
        self.max_records.append(max_records)
        if not self.batches:
            return {}
        batch = self.batches.pop(0)
        taken, rest = batch[: max_records or len(batch)], batch[max_records or len(batch) :]
        if rest:
            self.batches.insert(0, rest)
        return {"tp": taken}


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    module = _example()
    monkeypatch.setattr(module, "AIOKafkaConsumer", _Kafka)
    monkeypatch.chdir(tmp_path)  # no .data/services.env here unless a test writes one
    monkeypatch.setattr(module, "REPO_SERVICES_ENV", tmp_path / "nowhere" / "services.env")
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "JIESU_KAFKA_BOOTSTRAP_SERVERS", "JIESU_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    _Kafka.made.clear()
    _Kafka.queued = [
        [
            _Record("complaints.events", 0, 0, _processed("JS1"), _headers("ticket.processed")),
            _Record("complaints.urgent", 2, 7, _processed("JS2", "critical"), _headers("ticket.processed")),
            _Record("complaints.events", 0, 1, _processed("JS1"), _headers("ticket.processed")),  # again
            _Record("complaints.events", 1, 4, b"{}", _headers("ticket.future", "9")),
            _Record("complaints.events", 3, 5, _status("JS1", 1), _headers("ticket.status_changed")),
        ]
    ]
    return module


def test_several_topics_as_json_lines(example: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--bootstrap-servers", "k:1", "--topic", "complaints.events", "--topic", "complaints.urgent"]
    handled = example.main([*argv, "--json", "--idle-seconds", "1"])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert handled == 3 and len(lines) == 3  # the repeat of JS1 once, the unknown event skipped
    assert [(x["topic"], x["partition"], x["offset"]) for x in lines] == [
        ("complaints.events", 0, 0),
        ("complaints.urgent", 2, 7),
        ("complaints.events", 3, 5),
    ]
    assert lines[1]["event"]["urgency"] == "critical" and lines[2]["event"]["to_status"] == "dispatched"
    assert "skipping ticket.future v9 on complaints.events: unknown" in err
    assert "3 event(s) from complaints.events, complaints.urgent" in err
    [kafka] = _Kafka.made
    assert (
        kafka.topics == ["complaints.events", "complaints.urgent"]
        and kafka.options["bootstrap_servers"] == "k:1"
    )
    assert kafka.stopped and kafka.commits == 1


def test_summary_lines_and_a_stop_after_n_events(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    handled = example.main(
        ["--bootstrap-servers", "k:1", "--topic", "complaints.events,complaints.urgent", "--max-events", "2"]
    )
    out, _ = capsys.readouterr()
    assert handled == 2
    assert out.splitlines() == [
        "complaints.events ticket.processed v1 JS1 normal 城乡建设 朝阳区 -> 市燃气集团",
        "complaints.urgent ticket.processed v1 JS2 critical:gas_leak 城乡建设 朝阳区 -> 市燃气集团",
    ]
    [kafka] = _Kafka.made
    # Never fetched more than still wanted: what is fetched is committed, so nothing is skipped next time.
    assert kafka.max_records == [2]
    assert kafka.polls == 1


def test_the_idle_time_ends_a_quiet_subscription(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    _Kafka.queued = []
    assert example.main(["--bootstrap-servers", "k:1", "--idle-seconds", "2"]) == 0
    [kafka] = _Kafka.made
    assert kafka.polls == 4  # 4 × 0.5 s of nothing
    assert kafka.topics == ["complaints.events"]


def test_topic_prefix_from_the_environment(example: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIESU_TOPIC_PREFIX", "staging.")
    _Kafka.queued = []
    example.main(
        [
            "--bootstrap-servers",
            "k:1",
            "--topic",
            "complaints.urgent",
            "--topic",
            "staging.complaints.events",
            "--idle-seconds",
            "0.5",
        ]
    )
    assert _Kafka.made[0].topics == ["staging.complaints.urgent", "staging.complaints.events"]


def test_kafka_address_from_the_environment_else_services_env(
    example: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match="make services"):
        example.bootstrap_servers()
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "services.env").write_text(
        "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:29092\nDATABASE_URL=postgresql://x\n"
    )
    assert example.bootstrap_servers() == "127.0.0.1:29092"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    assert example.bootstrap_servers() == "broker:9092"
    assert example.bootstrap_servers("given:1") == "given:1"
    _Kafka.queued = []
    example.main(["--idle-seconds", "0.5"])
    assert _Kafka.made[0].options["bootstrap_servers"] == "broker:9092"


def test_bad_limits_are_refused(example: ModuleType) -> None:
    for argv in (["--max-events", "0"], ["--idle-seconds", "0"]):
        with pytest.raises(SystemExit):
            example.main(["--bootstrap-servers", "k:1", *argv])
