"""Ticket ids: deterministic per idempotency key, verifiable, unforgeable without the secret."""

from ingest.tickets import TICKET_ID_LENGTH, idempotency_key_for, is_issued_ticket_id, new_ticket_id


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
