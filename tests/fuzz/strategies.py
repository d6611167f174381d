"""Hypothesis strategies for requests that must be refused, each malformed by construction in a known way.

Every strategy draws a *valid* submission of some channel first and then breaks it in exactly one named way
(wrong type, missing field, unknown field, bad identifier, number out of range, text over its bound, deep
nesting, invalid UTF-8, truncation, wrong content type, bad header, ...), so a 2xx answer is always a bug.
Hostile text (injection strings, emoji, mixed scripts, invisible characters) is mixed into the broken
requests everywhere; `hostile_text` is also used on its own for valid submissions that must be accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import strategies as st

INJECTIONS = (
    "' OR '1'='1' --",
    "Robert'); DROP TABLE tickets;--",
    "<script>alert(document.cookie)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}{% debug %}",
    "$(rm -rf /)",
    "`id`",
    "%00%0d%0aSet-Cookie: x=1",
    "\\u0000\\ud800",
    "\"}]}'; --",
    "../../../../etc/passwd\x00.png",
    "\r\nX-Injected: 1",
    "a" * 300,
)
EMOJI = ("😀", "🚧", "👨‍👩‍👧‍👦", "🏳️‍🌈", "\U0001f9ea", "❤️", "🇨🇳")
SCRIPTS = (
    "海淀区学院路",
    "مرحبا بالعالم",
    "שלום",
    "Привет",
    "こんにちは",
    "안녕하세요",
    "ཀཁགང",
    "ᠮᠣᠩᠭᠣᠯ",
    "ئۇيغۇرچە",
    "١٢٣٤٥٦٧٨٩٠",
    "१२३४५",
)
INVISIBLE = ("\u200b", "\u200e", "\u202e", "\ufeff", "\u2060", "\x00", "\x1b[31m", "\x7f", "\x85")
# One of these in an identifier always breaks its pattern ([\w.:@/+=-]), whatever else is around it: all
# visible, so no normalisation (trimming, removing invisible characters) could make the identifier valid.
NOT_IDENTIFIER = ("'", '"', ";", "<", ">", "{", "}", "%", "\\", "😀", ",", "#", "*", "?", "|", "!")

# orjson writes 64-bit integers only (huge ones are sent as raw text where wanted)
int64 = st.integers(-(2**63), 2**63 - 1)

hostile_piece = st.one_of(
    st.sampled_from(INJECTIONS),
    st.sampled_from(EMOJI),
    st.sampled_from(SCRIPTS),
    st.sampled_from(INVISIBLE),
    st.text(max_size=12),
)
hostile_text = st.lists(hostile_piece, min_size=1, max_size=8).map("".join)
# Short enough for any text field it goes into (titles hold 200 characters after normalisation).
short_hostile_text = hostile_text.map(lambda s: s[:150])


@dataclass
class Case:
    """One request to send, and the way it is broken (for the figures and for failure messages)."""

    kind: str
    body: bytes
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    path: str = "/v1/complaints"

    def describe(self) -> str:
        """Short description for assertion messages."""
        return f"{self.kind}: {self.method} {self.path} {self.content_type} {self.body[:300]!r}"


@st.composite
def valid_submission(draw: st.DrawFn) -> dict[str, Any]:
    """A valid submission of one of the three channels, with hostile text where text is free."""
    channel = draw(st.sampled_from(("web", "wechat", "phone")))
    ext = f"fz-{draw(st.integers(0, 10**12))}"
    text = "路灯坏了" + draw(short_hostile_text)
    if channel == "web":
        return {
            "channel": "web",
            "external_id": ext,
            "title": draw(short_hostile_text),
            "content": text,
            "citizen": {"phone": "13800138000"},
            "location": {"district": "海淀区", "latitude": 39.9, "longitude": 116.3},
        }
    if channel == "wechat":
        return {
            "channel": "wechat",
            "external_id": ext,
            "content": text,
            "citizen": {"wechat_openid": "oAbC123"},
        }
    return {
        "channel": "phone",
        "external_id": ext,
        "call": {
            "call_id": ext,
            "caller": "13900139000",
            "duration_s": 60,
            "transcript": [{"speaker": "citizen", "text": text, "confidence": 0.9}],
        },
    }


def _json(value: Any) -> bytes:
    # orjson refuses NaN/inf and lone surrogates; this is for bodies without them
    return orjson.dumps(value)


def _wrong_type_for(value: Any) -> st.SearchStrategy[Any]:
    """JSON values of a type other than `value`'s (strings never stand in for numbers or the reverse)."""
    options: list[st.SearchStrategy[Any]] = [
        st.lists(int64, max_size=3),
        st.dictionaries(st.text(max_size=5), int64, max_size=2),
        st.booleans(),
    ]
    if not isinstance(value, str):
        options.append(hostile_text)
    if isinstance(value, str):
        options.append(st.integers(-(10**6), 10**6))
        options.append(st.floats(allow_nan=False, allow_infinity=False))
    return st.one_of(*options)


# (path into the body, channel it exists in, whether null is also wrong there)
_TYPED_FIELDS: tuple[tuple[tuple[str, ...], str, bool], ...] = (
    (("channel",), "*", True),
    (("content",), "web", True),
    (("title",), "web", True),
    (("external_id",), "*", False),
    (("citizen", "phone"), "web", False),
    (("location", "latitude"), "web", False),
    (("citizen", "wechat_openid"), "wechat", False),
    (("call",), "phone", True),
    (("call", "transcript"), "phone", True),
    (("call", "duration_s"), "phone", False),
)
_REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "web": (("channel",), ("content",)),
    "wechat": (("channel",),),
    "phone": (("channel",), ("call",), ("call", "transcript"), ("call", "call_id")),
}


def _set(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _delete(body: dict[str, Any], path: tuple[str, ...]) -> None:
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


@st.composite
def wrong_type(draw: st.DrawFn) -> Case:
    """One field of a valid submission replaced by a value of the wrong JSON type."""
    body = draw(valid_submission())
    fields = [(p, nullable) for p, ch, nullable in _TYPED_FIELDS if ch in ("*", body["channel"])]
    path, null_is_wrong = draw(st.sampled_from(fields))
    node: Any = body
    for key in path:
        node = node[key]
    values = _wrong_type_for(node)
    if null_is_wrong:
        values = st.one_of(values, st.none())
    _set(body, path, draw(values))
    return Case(f"wrong_type:{'.'.join(path)}", _json(body))


@st.composite
def missing_field(draw: st.DrawFn) -> Case:
    """A required field removed."""
    body = draw(valid_submission())
    path = draw(st.sampled_from(_REQUIRED[body["channel"]]))
    _delete(body, path)
    return Case(f"missing:{'.'.join(path)}", _json(body))


@st.composite
def unknown_field(draw: st.DrawFn) -> Case:
    """An unknown field added at the top level or inside a nested object (the models forbid extras)."""
    body = draw(valid_submission())
    known = {"channel", "external_id", "title", "content", "citizen", "location", "call", "submitted_at"}
    name = draw(st.one_of(hostile_text, st.sampled_from(("is_admin", "ticket_id", "__proto__", "$where"))))
    if name in known or name in {"phone", "wechat_openid", "name", "email", "district", "address"}:
        name = f"x-{name}"
    where = draw(st.sampled_from(("top", "call" if body["channel"] == "phone" else "citizen")))
    target = body if where == "top" else body[where]
    target[name] = draw(st.one_of(hostile_text, int64, st.none(), st.booleans()))
    return Case(f"unknown_field:{where}", _json(body))


@st.composite
def bad_identifier(draw: st.DrawFn) -> Case:
    """An identifier (external id, openid, call id, phone) holding characters it may not hold."""
    body = draw(valid_submission())
    bad = draw(hostile_text) + draw(st.sampled_from(NOT_IDENTIFIER)) + draw(hostile_text)
    channel = body["channel"]
    choices: list[tuple[str, ...]] = [("external_id",)]
    if channel == "web":
        choices += [("citizen", "phone")]
    if channel == "wechat":
        choices += [("citizen", "wechat_openid")]
    if channel == "phone":
        choices += [("call", "call_id"), ("call", "caller")]
    path = draw(st.sampled_from(choices))
    _set(body, path, bad)
    return Case(f"bad_identifier:{'.'.join(path)}", _json(body))


@st.composite
def bad_channel(draw: st.DrawFn) -> Case:
    """A channel no adapter has: hostile text, case variants, emoji."""
    body = draw(valid_submission())
    value = draw(
        st.one_of(hostile_text, st.sampled_from(("WEB", "Wechat", " web", "web ", "fax", "微信", "📞")))
    )
    if value in ("web", "wechat", "phone"):
        value += "!"
    body["channel"] = value
    return Case("bad_channel", _json(body))


@st.composite
def out_of_range(draw: st.DrawFn) -> Case:
    """A number out of its range, or NaN/Infinity/1e999 as JSON numbers (Python's parser takes them)."""
    body = draw(valid_submission())
    weird = draw(st.sampled_from(("NaN", "Infinity", "-Infinity", "1e999", "-1e999")))
    raw = _json(body).decode()
    if body["channel"] == "web":
        field_name = draw(st.sampled_from(("latitude", "longitude")))
        if draw(st.booleans()):
            value = body["location"][field_name]
            raw = raw.replace(f'"{field_name}":{value}', f'"{field_name}":{weird}', 1)
            return Case(f"non_finite:{field_name}", raw.encode())
        body["location"][field_name] = draw(
            st.floats(min_value=181, max_value=1e300) | st.floats(min_value=-1e300, max_value=-181)
        )
        return Case(f"out_of_range:{field_name}", _json(body))
    if body["channel"] == "phone":
        seg = body["call"]["transcript"][0]
        seg["confidence"] = draw(
            st.floats(min_value=1.0001, max_value=1e9) | st.floats(min_value=-1e9, max_value=-0.0001)
        )
        return Case("out_of_range:confidence", _json(body))
    body["msg_type"] = "location"
    body["location"] = {"latitude": draw(st.floats(min_value=90.001, max_value=1e9)), "longitude": 1.0}
    return Case("out_of_range:wechat.latitude", _json(body))


@st.composite
def too_long(draw: st.DrawFn) -> Case:
    """A text field over its bound (the body itself stays under the size limit)."""
    body = draw(valid_submission())
    piece = draw(st.sampled_from(("路", "😀", "a", "ئ")))
    if body["channel"] == "phone":
        body["call"]["transcript"][0]["text"] = piece * draw(st.integers(2001, 5000))
        return Case("too_long:transcript.text", _json(body))
    body["content"] = piece * draw(st.integers(16_001, 40_000))
    return Case("too_long:content", _json(body))


@st.composite
def deep_nesting(draw: st.DrawFn) -> Case:
    """Deeply nested arrays or objects, in a field or as the whole body (up to 200,000 levels)."""
    depth = draw(st.integers(50, 200_000))
    opener, closer = draw(st.sampled_from((("[", "]"), ('{"a":', "}"))))
    nested = opener * depth + "1" + closer * depth
    if depth < 5000 and draw(st.booleans()):
        body = draw(valid_submission())
        raw = _json({**body, "content": "__NEST__"}).decode().replace('"__NEST__"', nested)
        return Case("deep_nesting:field", raw.encode())
    return Case("deep_nesting:body", nested.encode())


@st.composite
def invalid_utf8(draw: st.DrawFn) -> Case:
    """A valid body with bytes that are not UTF-8 inside one of its strings."""
    body = draw(valid_submission())
    raw = _json(body)
    bad = draw(
        st.sampled_from(
            (b"\xff", b"\xfe\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80")
        )
    )
    marker = b"\xe8\xb7\xaf"  # 路, present in every valid body's text
    at = raw.index(marker)
    return Case("invalid_utf8", raw[:at] + bad + raw[at:])


@st.composite
def truncated(draw: st.DrawFn) -> Case:
    """A valid body cut short."""
    raw = _json(draw(valid_submission()))
    cut = draw(st.integers(0, len(raw) - 1))
    return Case("truncated", raw[:cut])


@st.composite
def not_an_object(draw: st.DrawFn) -> Case:
    """JSON that is not an object, or bytes that are not JSON at all."""
    value = draw(
        st.one_of(
            st.lists(int64, max_size=3).map(_json),
            int64.map(_json),
            hostile_text.map(_json),
            st.just(b"null"),
            st.just(b"true"),
            st.binary(max_size=200),
            hostile_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
        )
    )
    return Case("not_an_object", value)


@st.composite
def wrong_content_type(draw: st.DrawFn) -> Case:
    """A valid JSON body sent as something else."""
    raw = _json(draw(valid_submission()))
    ctype = draw(
        st.sampled_from(
            (
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=xyz",
                "application/xml",
                "image/png",
            )
        )
    )
    return Case(f"content_type:{ctype.split(';')[0]}", raw, content_type=ctype)


@st.composite
def bad_idempotency_key(draw: st.DrawFn) -> Case:
    """A valid body with an Idempotency-Key header over its 128-character bound."""
    raw = _json(draw(valid_submission()))
    key = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_';<>%{}", min_size=129, max_size=2000))
    return Case("bad_idempotency_key", raw, headers={"idempotency-key": key})


@st.composite
def duplicate_key_or_raw_nul(draw: st.DrawFn) -> Case:
    """A body whose channel key comes twice (the last wins, and is wrong), or with a raw NUL byte."""
    raw = _json(draw(valid_submission()))
    if draw(st.booleans()):
        return Case("duplicate_key", raw[:-1] + b',"channel":"fax"}')
    at = draw(st.integers(0, len(raw)))
    return Case("raw_nul", raw[:at] + b"\x00" + raw[at:])


@st.composite
def oversized(draw: st.DrawFn) -> Case:
    """A body over the gateway's size limit (1 MiB by default), declared honestly in Content-Length."""
    size = draw(st.integers(1 << 20, 3 << 20))
    body = b'{"channel":"web","external_id":"big","content":"' + b"a" * size + b'"}'
    return Case("oversized", body)


MALFORMED = st.one_of(
    oversized(),
    wrong_type(),
    missing_field(),
    unknown_field(),
    bad_identifier(),
    bad_channel(),
    out_of_range(),
    too_long(),
    deep_nesting(),
    invalid_utf8(),
    truncated(),
    not_an_object(),
    wrong_content_type(),
    bad_idempotency_key(),
    duplicate_key_or_raw_nul(),
)
