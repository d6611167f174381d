"""The security probes of issue 18: each one request (or start-up) an attacker or a careless operator would
try, and the answer the gateway must give.

Every probe names what it tries, the expected status, and is run by tests/security/test_probes.py against the
gateway app (keyed, with the WeChat callback on, downstream keys set), which records the actual status and
what the gateway put on the intake topics meanwhile ("stored": an accepted submission is stored by the
workers, so a refused probe must leave nothing there). `make security` writes the results to
.data/security-report.json; `make test` runs the same probes.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.api_support import PHONE_KEY, SIGNED_KEY, WEB_KEY, WECHAT_TOKEN, bearer, signed_headers

DOWNSTREAM_KEY = "dispatch-desk-key-0123456789"
# The probes' gateway allows this many reads at once (JIESU_READ_BURST, JIESU_PUBLIC_READ_BURST).
READ_BURST = 5
WEB = {"channel": "web", "content": "小区门口的路灯坏了一个星期", "citizen": {"phone": "13800138000"}}


@dataclass
class Request:
    """One HTTP request of a probe."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Probe:
    """What is tried, and the answer it must get (the last request's status)."""

    name: str
    tries: str
    expected: int
    requests: Callable[[], list[Request]]
    # Intake records the probe may leave (a probe whose first request is a genuine submission leaves one).
    may_store: int = 0


def _json(body: Any, key: str | None = WEB_KEY, **headers: str) -> dict[str, str]:
    out = {"content-type": "application/json", **headers}
    if key:
        out.update(bearer(key))
    return out


def _submit(body: dict[str, Any], key: str | None = WEB_KEY, **headers: str) -> Request:
    return Request("POST", "/v1/complaints", orjson.dumps(body), _json(body, key, **headers))


def _raw_submit(raw: bytes, key: str | None = WEB_KEY) -> Request:
    return Request("POST", "/v1/complaints", raw, _json(None, key))


def _wechat_query(
    at: float | None = None, nonce: str | None = None, token: str = WECHAT_TOKEN
) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    nonce = nonce or uuid.uuid4().hex[:10]
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def _wechat_push(content: str, msg_id: str) -> bytes:
    return (
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oProbe123]]></FromUserName>"
        f"<CreateTime>1717000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def _wechat(body: bytes, query: dict[str, str]) -> Request:
    return Request("POST", "/v1/channels/wechat", body, {"content-type": "application/xml"}, query)


def _replay() -> list[Request]:
    query = _wechat_query()
    genuine = _wechat(_wechat_push("红绿灯坏了", f"p{uuid.uuid4().hex[:8]}"), query)
    forged = _wechat(_wechat_push("伪造的投诉", f"p{uuid.uuid4().hex[:8]}"), query)
    return [genuine, forged]


def _hmac_replay() -> list[Request]:
    body = orjson.dumps({**WEB, "external_id": f"h-{uuid.uuid4().hex[:8]}"})
    headers = signed_headers(body, nonce=uuid.uuid4().hex)
    return [
        Request("POST", "/v1/complaints", body, headers),
        Request("POST", "/v1/complaints", body, headers),
    ]


def _open311_form(**change: str) -> bytes:
    form = {
        "api_key": WEB_KEY,
        "service_code": "environmental-protection",
        "address_string": "海淀区学院路30号",
        "description": "小区门口烧烤摊油烟很大",
        **change,
    }
    from urllib.parse import urlencode

    return urlencode(form).encode()


def _invalid_flood() -> list[Request]:
    bad = {**WEB, "citizen": {"phone": "12"}}
    call = {
        "call_id": f"c-{uuid.uuid4().hex[:8]}",
        "transcript": [{"speaker": "citizen", "text": "路灯坏了"}],
    }
    valid = {"channel": "phone", "call": call}
    return (
        [_submit({**bad, "channel": "web"}, WEB_KEY)]
        + [_submit({**valid, "citizen": {"phone": "12"}}, PHONE_KEY) for _ in range(4)]
        + [_submit(valid, PHONE_KEY)]
    )


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<xml><MsgType>text</MsgType><Content>&e;</Content></xml>"
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    b"<xml><MsgType>text</MsgType><Content>&b;</Content></xml>"
)
CONTENT_JSON = {"content-type": "application/json"}

PROBES: list[Probe] = [
    Probe(
        "read_without_downstream_key",
        "list every complaint without a downstream key",
        401,
        lambda: [Request("GET", "/v1/complaints")],
    ),
    Probe(
        "status_change_with_made_up_actor",
        "move a ticket to rejected under a made-up X-Jiesu-Actor, without a key",
        401,
        lambda: [
            Request(
                "POST",
                "/v1/complaints/JSANXNSGTJEQWDXM2GNRROJAHU/status",
                b'{"status": "rejected"}',
                {**CONTENT_JSON, "X-Jiesu-Actor": "dispatch"},
            )
        ],
    ),
    Probe(
        "nul_in_citizen_email",
        "a NUL byte in citizen.email (Postgres refuses it; it used to get 202 and stop the worker)",
        422,
        lambda: [_submit({**WEB, "citizen": {"email": "a\x00b@example.com"}})],
    ),
    Probe(
        "nul_in_batch_item",
        "a NUL byte in one batch item's citizen.email: that item refused, the other taken",
        207,
        lambda: [
            Request(
                "POST",
                "/v1/complaints/batch",
                orjson.dumps(
                    {
                        "items": [
                            {**WEB, "external_id": f"n-{uuid.uuid4().hex[:8]}"},
                            {**WEB, "external_id": "x", "citizen": {"email": "a\x00@example.com"}},
                        ]
                    }
                ),
                _json(None),
            )
        ],
        may_store=1,
    ),
    Probe(
        "nul_in_open311_email",
        "a NUL byte in an Open311 POST's email",
        400,
        lambda: [
            Request(
                "POST",
                "/open311/v2/requests.json",
                _open311_form(email="a\x00b@example.com"),
                {"content-type": "application/x-www-form-urlencoded"},
            )
        ],
    ),
    Probe(
        "lone_surrogate_in_content",
        "a lone surrogate (\\ud800) in content, which no UTF-8 encoder takes",
        422,
        lambda: [_raw_submit(b'{"channel": "web", "content": "a\\ud800b"}')],
    ),
    Probe(
        "wrong_channel",
        "the web portal's key submitting on the WeChat channel (channel binding)",
        403,
        lambda: [_submit({**WEB, "channel": "wechat", "citizen": {"wechat_openid": "o1"}})],
    ),
    Probe(
        "unknown_key",
        "a submission with a made-up key",
        401,
        lambda: [_submit(WEB, "made-up-key-0123456789abcdef")],
    ),
    Probe(
        "keyless_large_batch",
        "a 15 MB batch body without a key: refused before it is read",
        401,
        lambda: [
            Request("POST", "/v1/complaints/batch", b'{"items": [' + b" " * 15_000_000 + b"]}", CONTENT_JSON)
        ],
    ),
    Probe(
        "oversized_body",
        "a single submission over the body limit",
        413,
        lambda: [_submit({**WEB, "content": "长" * 600_000})],
    ),
    Probe(
        "hmac_replay",
        "a signed adapter's request sent twice with the same nonce",
        401,
        _hmac_replay,
        may_store=1,
    ),
    Probe(
        "hmac_bad_signature",
        "a signed adapter's request with a signature over another body",
        401,
        lambda: [
            Request(
                "POST",
                "/v1/complaints",
                orjson.dumps(WEB),
                {**signed_headers(b"{}"), "Authorization": f"Bearer {SIGNED_KEY}"},
            )
        ],
    ),
    Probe(
        "wechat_bad_signature",
        "a WeChat push signed with a guessed token",
        403,
        lambda: [_wechat(_wechat_push("x", "1"), _wechat_query(token="guess"))],
    ),
    Probe(
        "wechat_stale_timestamp",
        "a genuine WeChat callback URL an hour old",
        403,
        lambda: [_wechat(_wechat_push("红绿灯坏了", "2"), _wechat_query(at=time.time() - 3600))],
    ),
    Probe(
        "wechat_replay_other_body",
        "a leaked callback URL replayed with another message",
        403,
        _replay,
        may_store=1,
    ),
    Probe(
        "wechat_xxe",
        "an external entity in a WeChat push (XXE)",
        400,
        lambda: [_wechat(XXE, _wechat_query())],
    ),
    Probe(
        "wechat_entity_expansion",
        "nested entities in a WeChat push (billion laughs)",
        400,
        lambda: [_wechat(LAUGHS, _wechat_query())],
    ),
    Probe(
        "invalid_input_flood",
        "one key sending invalid submissions past its budget, then a valid one",
        429,
        _invalid_flood,
    ),
    Probe(
        "read_flood",
        "one downstream key reading past its read rate",
        429,
        lambda: [
            Request("GET", "/v1/complaints", headers=bearer(DOWNSTREAM_KEY), params={"cursor": "x"})
            for _ in range(READ_BURST + 1)
        ],
    ),
    Probe(
        "report_flood",
        "one downstream key asking for the hourly report (an aggregate query) past its read rate",
        429,
        lambda: [
            Request(
                "GET", "/v1/reports/hourly", headers=bearer(DOWNSTREAM_KEY), params={"date": "2024-03-10"}
            )
            for _ in range(READ_BURST + 1)
        ],
    ),
    Probe(
        "open311_public_read_flood",
        "keyless Open311 reads from one address past its public read rate",
        429,
        lambda: [
            Request("GET", "/open311/v2/tokens/JSAAAAAAAAAAAAAAAAAAAAAAAA.json")
            for _ in range(READ_BURST + 1)
        ],
    ),
    Probe(
        "cursor_with_nul",
        "a read cursor holding a NUL byte",
        400,
        lambda: [
            Request("GET", "/v1/complaints", headers=bearer(DOWNSTREAM_KEY), params={"cursor": "a\x00b"})
        ],
    ),
    Probe(
        "timezone_posixrules",
        "the hourly report for timezone=posixrules",
        400,
        lambda: [
            Request(
                "GET",
                "/v1/reports/hourly",
                headers=bearer(DOWNSTREAM_KEY),
                params={"date": "2024-03-10", "timezone": "posixrules"},
            )
        ],
    ),
    Probe(
        "open311_end_date_9999",
        "Open311 GET requests with end_date in year 9999",
        400,
        lambda: [Request("GET", "/open311/v2/requests.json", params={"end_date": "9999-12-31T00:00:00Z"})],
    ),
]
