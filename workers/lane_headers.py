"""How a record says it reached an intake topic from another lane, not from the gateway.

Two ways: the urgent lane stores and announces a ticket, then passes its record on to the normal lane for
linking (`forwarded_from`); the sentinel copies a record of the normal lane that it judged urgent onto the
urgent lane, whose original stays where it is (`rescreened_from`). Both keep the record's key, value and
headers, so the copy lands in the citizen's partition and decodes as the same submission.
"""

from __future__ import annotations

from ingest.bus import BusMessage
from ingest.bus.base import Outgoing

FORWARDED_HEADER = "forwarded_from"
RESCREENED_HEADER = "rescreened_from"


def _has_header(msg: BusMessage, name: str) -> bool:
    return any(header == name for header, _ in msg.headers)


def is_forwarded(msg: BusMessage) -> bool:
    """The record was passed on by the urgent lane, which stored its ticket already."""
    return _has_header(msg, FORWARDED_HEADER)


def is_rescreened(msg: BusMessage) -> bool:
    """The record is the sentinel's copy; its original is on the normal lane."""
    return _has_header(msg, RESCREENED_HEADER)


def from_another_lane(msg: BusMessage) -> bool:
    """Forwarded or rescreened: a second record of a submission the gateway sent once."""
    return is_forwarded(msg) or is_rescreened(msg)


def copied(messages: list[BusMessage], topic: str, header: str) -> list[Outgoing]:
    """`messages` as records for `topic`: the same key (so the same partition as the citizen's other
    records), value and headers, marked with `header` naming the topic they were read from. A record that
    already came from another lane is not copied again."""
    return [
        (topic, m.value, m.key, [*m.headers, (header, m.topic.encode())])
        for m in messages
        if not from_another_lane(m)
    ]
