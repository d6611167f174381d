"""The hotline's hours: a local hour as the UTC hour the rollups count, and the same hour on earlier days.

The rollups count UTC hours, so a local hour is one rollup hour only in a zone a whole number of hours from
UTC at that instant (China, and most of the world); other zones are refused with `NotWholeHour`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)
_HOUR_TEXT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2})$")


class NotWholeHour(ValueError):
    """The zone's offset from UTC is not a whole number of hours at that hour."""


@dataclass(frozen=True)
class Hour:
    """One local hour: its wall-clock start in the zone, and the UTC instants it spans."""

    local: datetime
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        """`YYYY-MM-DDTHH`, the hour as the report routes take it."""
        return self.local.strftime("%Y-%m-%dT%H")


def parse_hour(text: str) -> datetime:
    """A naive wall-clock hour from `YYYY-MM-DDTHH`; ValueError naming the expected form."""
    match = _HOUR_TEXT.match(text)
    if match is None:
        raise ValueError(f"{text[:40]!r}: expected an hour as YYYY-MM-DDTHH, e.g. 2026-12-07T09")
    year, month, day, hour = (int(g) for g in match.groups())
    if not 1970 <= year <= 9998:
        raise ValueError("expected a year between 1970 and 9998")
    return datetime(year, month, day, hour)


def local_hour(wall: datetime, zone: ZoneInfo) -> Hour:
    """The hour starting at wall-clock `wall` (naive) in `zone`."""
    local = wall.replace(minute=0, second=0, microsecond=0, tzinfo=zone)
    offset = local.utcoffset() or timedelta(0)
    if offset % HOUR:
        raise NotWholeHour(f"{zone.key} is {offset} from UTC at {wall:%Y-%m-%d %H}:00: not a whole hour")
    start = local.astimezone(UTC)
    return Hour(local, start, start + HOUR)


def hour_of(instant: datetime, zone: ZoneInfo) -> Hour:
    """The local hour that contains the aware `instant`."""
    return local_hour(instant.astimezone(zone).replace(tzinfo=None), zone)


def days_before(hour: Hour, days: int) -> Hour:
    """The same wall-clock hour `days` days earlier (across a DST change too)."""
    zone = hour.local.tzinfo
    assert isinstance(zone, ZoneInfo)
    return local_hour(hour.local.replace(tzinfo=None) - timedelta(days=days), zone)


def same_hour_days_before(hour: Hour, days: int) -> list[Hour]:
    """The same wall-clock hour on each of the `days` previous days."""
    return [days_before(hour, k) for k in range(1, days + 1)]


def elapsed_fraction(hour: Hour, now: datetime) -> float:
    """How much of `hour` has passed at `now` (0 before it, 1 after it)."""
    passed = (now - hour.start) / HOUR
    return min(1.0, max(0.0, passed))
