"""Ticket ids: deterministic for an idempotency key, signed so that any gateway can tell its own ids apart.

A ticket id is `JS` + 16 base32 characters of identity + 8 of HMAC tag. The identity is derived from
`(channel, external_id)` when the adapter gives one, so a retry — to any gateway process, before or after a
restart — yields the same ticket id without any shared state; the tag lets `GET /v1/complaints/{id}` answer
`received` for an id this deployment issued but the workers have not stored yet, and 404 for anything else.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

_PREFIX = "JS"
_ID_BYTES = 10
_TAG_BYTES = 5
TICKET_ID_LENGTH = len(_PREFIX) + 16 + 8


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Base32 of every 10-bit group, two characters each. `base64.b32encode` is pure Python (bytes, padding,
# decode, strip), costlier than the rest of a ticket id, and ticket ids are made for every item of a batch.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def _b40(n: int) -> str:
    return _PAIRS[n >> 30] + _PAIRS[(n >> 20) & 1023] + _PAIRS[(n >> 10) & 1023] + _PAIRS[n & 1023]


def _b32(raw: bytes) -> str:
    """`base64.b32encode(raw)` as text, for the 5 and 10 byte values here (whole 40-bit groups)."""
    n = int.from_bytes(raw, "big")
    if len(raw) == 10:
        return _b40(n >> 40) + _b40(n & 0xFFFFFFFFFF)
    if len(raw) == 5:
        return _b40(n)
    return base64.b32encode(raw).decode("ascii").rstrip("=")  # pragma: no cover - no other size is used


@functools.lru_cache(maxsize=8)
def _keyed(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def _tag(secret: str, identity: str) -> str:
    # A copy of an HMAC already keyed with the secret: keying a new one per ticket would cost more than the
    # rest of the ticket id (and `hmac.digest(…, "sha256")` looks the digest up by name each time).
    mac = _keyed(secret).copy()
    mac.update(identity.encode("ascii"))
    return _b32(mac.digest()[:_TAG_BYTES])


def new_ticket_id(secret: str, idempotency_key: str | None) -> str:
    """A ticket id: derived from `idempotency_key` when given (same key → same id), else random."""
    if idempotency_key:
        raw = hashlib.sha256(idempotency_key.encode("utf-8")).digest()[:_ID_BYTES]
    else:
        raw = secrets.token_bytes(_ID_BYTES)
    identity = _b32(raw)
    return f"{_PREFIX}{identity}{_tag(secret, identity)}"


def is_issued_ticket_id(secret: str, ticket_id: str) -> bool:
    """True when `ticket_id` is well formed and was signed with `secret`."""
    if len(ticket_id) != TICKET_ID_LENGTH or not ticket_id.startswith(_PREFIX):
        return False
    identity, tag = ticket_id[len(_PREFIX) : -8], ticket_id[-8:]
    try:
        return hmac.compare_digest(_tag(secret, identity), tag)
    except (UnicodeEncodeError, TypeError):
        return False


def idempotency_key_for(channel: str, external_id: str | None, header_key: str | None) -> str | None:
    """The key that makes a submission idempotent: the header when sent, else channel + external id."""
    if header_key:
        return f"hdr:{channel}:{header_key}"
    if external_id:
        return f"ext:{channel}:{external_id}"
    return None
