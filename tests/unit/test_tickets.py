"""Ticket ids: deterministic per idempotency key, verifiable, unforgeable without the secret."""

import base64

from hypothesis import given
from hypothesis import strategies as st

from ingest.tickets import TICKET_ID_LENGTH, _b32, idempotency_key_for, is_issued_ticket_id, new_ticket_id


def test_same_key_same_id_different_key_different_id() -> None:
    a = new_ticket_id("s", idempotency_key_for("web", "web-1", None))
    assert a == new_ticket_id("s", idempotency_key_for("web", "web-1", None))
    assert a != new_ticket_id("s", idempotency_key_for("wechat", "web-1", None))
    assert len(a) == TICKET_ID_LENGTH


def test_header_key_wins_over_external_id() -> None:
    assert idempotency_key_for("web", "x", "hdr-1") == "hdr:web:hdr-1"
    assert idempotency_key_for("web", None, None) is None


def test_random_ids_without_key_are_unique() -> None:
    assert len({new_ticket_id("s", None) for _ in range(1000)}) == 1000


def test_verification_needs_the_secret() -> None:
    tid = new_ticket_id("secret", "k")
    assert is_issued_ticket_id("secret", tid)
    assert not is_issued_ticket_id("other", tid)
    assert not is_issued_ticket_id("secret", tid[:-1] + ("A" if tid[-1] != "A" else "B"))
    assert not is_issued_ticket_id("secret", "JS-not-a-ticket")
    assert not is_issued_ticket_id("secret", "JS" + "é" * (TICKET_ID_LENGTH - 2))


def test_ids_are_stable_across_versions() -> None:
    # A retry after a gateway upgrade must get the same ticket: the derivation may be made faster, never
    # different (this value was computed with the first implementation: hmac.new + base64.b32encode).
    assert new_ticket_id("secret", "ext:web:abc") == "JSYWFMMFQUHZ6KUJDGKMSDQECH"
    assert is_issued_ticket_id("secret", "JSYWFMMFQUHZ6KUJDGKMSDQECH")


@given(st.binary(min_size=5, max_size=5) | st.binary(min_size=10, max_size=10))
def test_base32_is_the_standard_one(raw: bytes) -> None:
    assert _b32(raw) == base64.b32encode(raw).decode("ascii").rstrip("=")
