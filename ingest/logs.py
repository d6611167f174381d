"""Structured JSON logs on stderr, one object per line."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

# Attributes every LogRecord has; anything else passed through `extra=` is emitted as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}
# Where a database error quotes a value: asyncpg names the argument it could not encode ("invalid input for
# query argument $2: '138…' (expected …)"), Postgres the text it could not parse ("invalid input syntax for
# type integer: "…"") and, in DETAIL, often a key or a token of it. SQLAlchemy's hide_parameters does not
# reach into these messages, and the values are citizens' texts and numbers, which no log line shows.
_QUOTED_VALUE = re.compile(
    r"((?:invalid input for query argument \$\d+|invalid input (?:syntax|value) for [^:\n]+): "
    r"|DETAIL: +)[^\n]*"
)
_HIDDEN = r"\1(value hidden)"


def without_query_arguments(text: str) -> str:
    """`text` with the values database errors quote hidden (the message and the statement stay)."""
    if "invalid input" not in text and "DETAIL:" not in text:
        return text
    return _QUOTED_VALUE.sub(_HIDDEN, text)


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON with its `extra` fields (ticket_id, partition, …)."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object per record."""
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        if "invalid input" not in line and "DETAIL:" not in line:
            return line  # one search of the line: most records quote no database error
        for key, value in entry.items():
            if not isinstance(value, int | float | bool | None):
                entry[key] = without_query_arguments(str(value))
        return orjson.dumps(entry, default=str).decode()


class RepeatFilter(logging.Filter):
    """Lets one record per (logger, level, message template) through every `interval_s`, counting the rest.

    While the broker is down aiokafka logs the same connection error at ERROR about ten times a second from
    every client; operators need to see that it happens and for how long, not thousands of identical lines.
    The next line that gets through carries `suppressed`: how many like it were dropped since the last one.
    Only loggers under `prefixes` are thinned; the project's own records always pass.
    """

    def __init__(
        self,
        prefixes: tuple[str, ...] = ("aiokafka",),
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._interval_s = interval_s
        self._clock = clock
        # key -> (time it last let a record through, records dropped since)
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat within the interval; the first one after it gets the count."""
        if not record.name.startswith(self._prefixes):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self._interval_s:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            record.suppressed = last[1]
        if len(self._seen) > 1000:  # templates are few; a bound all the same
            self._seen.clear()
        self._seen[key] = (now, 0)
        return True


# Loggers whose INFO lines are records to keep, not chatter: the audit of who read citizens' complaints.
AUDIT_LOGGERS = ("jiesu.audit",)


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines (repeated library errors thinned); the audit
    loggers log at INFO whatever `level` says, so a quieter log never loses who read what."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    for name in AUDIT_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
