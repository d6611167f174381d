"""The net under every field: what Postgres refuses is found in the record's JSON and named."""

from ingest.schemas.submission import WebSubmission
from ingest.storable import NUL_TYPE, may_hold_nul, unstorable_fields


def _web(**fields: object) -> WebSubmission:
    return WebSubmission.model_validate({"channel": "web", "content": "路灯坏了", **fields})


def test_a_record_without_the_escape_is_not_walked() -> None:
    assert not may_hold_nul(b'{"content":"\\u8def\\u706f"}')
    assert unstorable_fields(b'{"content":"ok"}', _web(citizen={"email": "a\x00@b.cn"})) == []


def test_a_nul_in_a_nested_field_is_named_under_the_prefix() -> None:
    sub = _web(citizen={"email": "a\x00b@example.com"})
    raw = sub.__pydantic_serializer__.to_json(sub)
    found = unstorable_fields(raw, sub, ("items", 3))
    assert [(e["field"], e["type"]) for e in found] == [("items.3.citizen.email", NUL_TYPE)]


def test_six_typed_characters_are_not_a_nul() -> None:
    sub = _web(content="路灯坏了 \\u0000")
    raw = sub.__pydantic_serializer__.to_json(sub)
    assert may_hold_nul(raw)
    assert unstorable_fields(raw, sub) == []
