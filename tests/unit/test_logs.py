"""The JSON log lines and the thinning of repeated library errors."""

from __future__ import annotations

import logging
import sys

import orjson
import pytest

from ingest.logs import JsonFormatter, RepeatFilter, configure_logging


def _record(name: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_broker_outage_logs_one_line_per_interval_with_the_count_of_the_rest() -> None:
    clock = Clock()
    thin = RepeatFilter(interval_s=30.0, clock=clock)
    template = "Unable connect to node with id %s: %s"
    passed = []
    for tick in range(600):  # a minute of ten errors a second, alternating nodes
        clock.now = tick / 10
        record = _record("aiokafka.client", template, tick % 2, "Connect call failed")
        if thin.filter(record):
            passed.append(record)
    assert len(passed) == 2  # at 0 s and at 30 s
    assert not hasattr(passed[0], "suppressed")
    assert passed[1].suppressed == 299  # type: ignore[attr-defined]
    line = orjson.loads(JsonFormatter().format(passed[1]))
    assert line["suppressed"] == 299 and line["msg"].startswith("Unable connect to node with id 0")


def test_different_messages_and_the_projects_own_records_are_not_thinned() -> None:
    thin = RepeatFilter(interval_s=30.0, clock=Clock())
    assert thin.filter(_record("aiokafka.client", "Unable connect to %s", "a"))
    assert thin.filter(_record("aiokafka.client", "Unable to update metadata from %s", [1]))
    assert thin.filter(_record("aiokafka.client", "Unable connect to %s", "a", level=logging.WARNING))
    assert not thin.filter(_record("aiokafka.client", "Unable connect to %s", "b"))
    for _ in range(5):
        assert thin.filter(_record("jiesu.worker", "batch stored"))


def test_asyncpgs_quoted_query_arguments_are_hidden_in_messages_fields_and_tracebacks() -> None:
    said = "invalid input for query argument $2: '请回电13800138000' (expected str, got int)"
    try:
        try:
            raise TypeError("expected str, got int")
        except TypeError as cause:
            raise ValueError(said + "\n[SQL: INSERT INTO t VALUES ($1, $2)]") from cause
    except ValueError:
        record = logging.LogRecord("jiesu.worker", logging.ERROR, __file__, 1, "failed: %s", (said,), None)
        record.exc_info = sys.exc_info()
        record.error = said
    line = JsonFormatter().format(record)
    assert "13800138000" not in line
    entry = orjson.loads(line)
    assert entry["msg"] == "failed: invalid input for query argument $2: (value hidden)"
    assert entry["error"] == "invalid input for query argument $2: (value hidden)"
    # The rest of the traceback stays: the statement, and what the driver expected.
    assert "[SQL: INSERT INTO t VALUES ($1, $2)]" in entry["exc"]
    assert "TypeError: expected str, got int" in entry["exc"]


def test_an_exception_passed_as_a_field_is_hidden_too() -> None:
    record = _record("jiesu.worker", "refused")
    record.error = ValueError("invalid input for query argument $1: '13800138000' (no)")
    record.count = 3
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["error"] == "invalid input for query argument $1: (value hidden)" and entry["count"] == 3


def test_the_audit_is_logged_at_a_quieter_level_too(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("WARNING")
        logging.getLogger("jiesu.audit").info("tickets read", extra={"actor": "dispatch", "tickets": 3})
        logging.getLogger("jiesu.gateway").info("chatter")
        lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert [(line["logger"], line["actor"]) for line in lines] == [("jiesu.audit", "dispatch")]
