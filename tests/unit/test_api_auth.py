"""Adapter authentication on the running gateway: keys bound to channels, 401/403, HMAC signatures."""

import hmac
import logging
import time

import orjson
import pytest

from app.auth import KeyRing, NonceCache
from ingest.settings import Settings
from tests.api_support import (
    PHONE_KEY,
    SIGNING_SECRET,
    WEB_KEY,
    WECHAT_KEY,
    accepted_records,
    bearer,
    gateway,
    settings,
    signed_headers,
)
from tests.unit.test_submission import PHONE, WEB, WECHAT


async def test_each_channel_key_submits_on_its_channel_only() -> None:
    async with gateway(settings()) as (http, broker, _):
        for body, key in ((WEB, WEB_KEY), (WECHAT, WECHAT_KEY), (PHONE, PHONE_KEY)):
            assert (await http.post("/v1/complaints", json=body, headers=bearer(key))).status_code == 202
        wrong = await http.post("/v1/complaints", json=WEB, headers=bearer(WECHAT_KEY))
        assert wrong.status_code == 403
        assert wrong.headers["content-type"] == "application/problem+json"
        assert "'wechat', not 'web'" in wrong.json()["detail"]
        assert len(accepted_records(broker)) == 3


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("not-a-key-0123456789abcdef"), {"Authorization": f"Basic {WEB_KEY}"}, bearer(WEB_KEY[:-1])],
    ids=["missing", "unknown", "not-bearer", "prefix-of-a-key"],
)
async def test_missing_or_wrong_key_is_401(headers: dict[str, str]) -> None:
    async with gateway(settings()) as (http, broker, _):
        resp = await http.post("/v1/complaints", json=WEB, headers=headers)
        assert resp.status_code == 401
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.headers["www-authenticate"].startswith("Bearer")
        # Refused before anything was produced, and before the body was judged: even an invalid one is 401.
        assert accepted_records(broker) == []
        invalid = await http.post("/v1/complaints", json={"channel": "fax"}, headers=headers)
        assert invalid.status_code == 401


async def test_reading_a_ticket_needs_any_valid_key() -> None:
    async with gateway(settings()) as (http, _, _app):
        ticket = (await http.post("/v1/complaints", json=WEB, headers=bearer(WEB_KEY))).json()["ticket_id"]
        assert (await http.get(f"/v1/complaints/{ticket}")).status_code == 401
        # The database of these settings is unreachable; an unknown id is answered without it.
        assert (
            await http.get("/v1/complaints/JSAAAAAAAAAAAAAAAAAAAAAAAA", headers=bearer(PHONE_KEY))
        ).status_code == 404


async def test_open_gateway_says_so_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jiesu.gateway")
    async with gateway(settings(api_keys="", signing_secrets="")) as (http, _, _app):
        assert (await http.post("/v1/complaints", json=WEB)).status_code == 202
        assert (await http.post("/v1/complaints", json=PHONE)).status_code == 202
    assert any("gateway is OPEN" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    caplog.clear()
    async with gateway(settings()):
        pass
    assert not any("OPEN" in r.getMessage() for r in caplog.records)
    assert any("portal (web)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "value",
    [
        "portal:web",
        "portal:fax:0123456789abcdefgh",
        "portal:web:short",
        "a b:web:0123456789abcdefgh",
        "a:web:0123456789abcdefgh,a:phone:0123456789abcdefgX",
        "a:web:0123456789abcdefgh,b:phone:0123456789abcdefgh",
    ],
)
def test_malformed_key_settings_refuse_to_start(value: str) -> None:
    with pytest.raises(ValueError, match="api key"):
        Settings(api_keys=value)


def test_keys_are_compared_in_constant_time_against_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = KeyRing(f"a:web:{WEB_KEY},b:wechat:{WECHAT_KEY},c:phone:{PHONE_KEY}", "")
    calls = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr("app.auth.hmac.compare_digest", counting)
    found = ring.lookup(WEB_KEY)
    assert found is not None and (found.name, found.channel) == ("a", "web")
    # Every key is compared, on digests of equal length, whether the first one matched or none does.
    assert calls == [(32, 32)] * 3
    calls.clear()
    assert ring.lookup("x" * 40) is None
    assert calls == [(32, 32)] * 3


def test_signing_secret_of_an_unknown_adapter_is_refused() -> None:
    with pytest.raises(ValueError, match="without an API key"):
        KeyRing(f"a:web:{WEB_KEY}", f"ghost:{SIGNING_SECRET}")


async def test_signed_adapter_valid_signature_accepted_once() -> None:
    async with gateway(settings()) as (http, broker, _):
        body = orjson.dumps({**WEB, "external_id": "signed-1"})
        headers = signed_headers(body)
        first = await http.post("/v1/complaints", content=body, headers=headers)
        assert first.status_code == 202, first.text
        replay = await http.post("/v1/complaints", content=body, headers=headers)
        assert replay.status_code == 401
        assert "replayed" in replay.json()["detail"]
        assert len(accepted_records(broker)) == 1


@pytest.mark.parametrize(
    "case", ["unsigned", "stale", "future", "tampered", "other-path", "wrong-secret", "bad-nonce"]
)
async def test_signed_adapter_bad_signatures_are_401(case: str) -> None:
    body = orjson.dumps({**WEB, "external_id": f"signed-{case}"})
    now = int(time.time())
    headers = {
        "unsigned": {
            "Authorization": signed_headers(body)["Authorization"],
            "Content-Type": "application/json",
        },
        "stale": signed_headers(body, stamp=now - 400),
        "future": signed_headers(body, stamp=now + 400),
        "tampered": signed_headers(body.replace(b"signed", b"Signed")),
        "other-path": signed_headers(body, path="/v1/complaints/batch"),
        "wrong-secret": signed_headers(body, secret="another-secret-0123456789"),
        "bad-nonce": signed_headers(body, nonce="short"),
    }[case]
    async with gateway(settings()) as (http, broker, _):
        resp = await http.post("/v1/complaints", content=body, headers=headers)
        assert resp.status_code == 401, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert accepted_records(broker) == []


async def test_signature_headers_of_an_adapter_that_does_not_sign_are_ignored() -> None:
    async with gateway(settings()) as (http, _, _app):
        junk = {"X-Jiesu-Signature": "sha256=00", "X-Jiesu-Nonce": "n", "X-Jiesu-Timestamp": "1"}
        resp = await http.post("/v1/complaints", json=WEB, headers={**bearer(WEB_KEY), **junk})
        assert resp.status_code == 202


def test_nonce_cache_forgets_after_its_window_and_stays_bounded() -> None:
    cache = NonceCache(ttl_s=10, max_entries=3)
    assert cache.first_time("a", now=0)
    assert not cache.first_time("a", now=5)
    assert cache.first_time("a", now=11)
    for i, nonce in enumerate("bcde"):
        assert cache.first_time(nonce, now=12 + i)
    assert len(cache._seen) == 3
