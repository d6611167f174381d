"""JSON Lines input and output for the offline commands."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from judgement_lab.dataset import parse_time


class RecordError(ValueError):
    """A line that cannot be processed, with its line number."""


def read_records(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | RecordError]]:
    """(line number, record or the error) for each non-blank line."""
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield n, RecordError(f"line {n}: invalid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            yield n, RecordError(f"line {n}: expected a JSON object")
        else:
            yield n, value


def text_field(record: dict[str, Any], key: str, n: int, required: bool = True) -> str:
    """A string field (missing optional fields and null are empty)."""
    value = record.get(key)
    if value is None:
        if required:
            raise RecordError(f"line {n}: missing {key!r}")
        return ""
    if not isinstance(value, str):
        raise RecordError(f"line {n}: {key!r} must be a string")
    return value


def record_id(record: dict[str, Any], n: int) -> str:
    """The record's id as a string (numbers are accepted)."""
    value = record.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(f"line {n}: missing or invalid 'id'")
    return str(value)


def timestamp(value: Any, n: int) -> datetime:
    """An ISO 8601 (or the data set's "2019/2/28 11:25:05") time as naive UTC, so all compare."""
    if not isinstance(value, str):
        raise RecordError(f"line {n}: 'submitted_at' must be a string timestamp")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            t = parse_time(value)
        except ValueError as exc:
            raise RecordError(f"line {n}: {exc}") from None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def write(out: IO[bytes], obj: dict[str, Any]) -> None:
    """Write one JSON line."""
    out.write(orjson.dumps(obj) + b"\n")


def report(error: RecordError) -> None:
    """Tell stderr about a skipped line."""
    print(error, file=sys.stderr)
