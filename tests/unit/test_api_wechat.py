"""The WeChat official-account callback on the running gateway: signature, push, passive reply, no XXE."""

import asyncio
import hashlib
import time
import uuid
from typing import Any
from xml.etree import ElementTree

import orjson
import pytest
from prometheus_client import REGISTRY

from app.routes import wechat as wechat_routes
from app.wechat_crypto import WechatCrypto
from ingest.bus import BusUnavailable
from tests.api_support import WECHAT_TOKEN, accepted_records, gateway, settings

URL = "/v1/channels/wechat"
ACCOUNT = "gh_3c884a361561"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def signed_query(
    token: str = WECHAT_TOKEN, *, at: float | None = None, nonce: str | None = None, **extra: str
) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    nonce = nonce or uuid.uuid4().hex[:10]
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra}


def push(msg_type: str, msg_id: str | None = "24525861735218432", **fields: str) -> bytes:
    parts = [
        f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>",
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>",
        "<CreateTime>1717000000</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
        *(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()),
    ]
    if msg_id:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    return ("<xml>" + "".join(parts) + "</xml>").encode()


def reply_fields(body: bytes) -> dict[str, str]:
    return {child.tag: child.text or "" for child in ElementTree.fromstring(body)}


async def test_url_verification_echoes_echostr() -> None:
    async with gateway(settings()) as (http, _, _app):
        good = await http.get(URL, params=signed_query(echostr="8394712093"))
        assert good.status_code == 200
        assert good.text == "8394712093"
        bad = await http.get(URL, params=signed_query(token="guess", echostr="1"))
        assert bad.status_code == 403
        assert bad.headers["content-type"] == "application/problem+json"


async def test_callback_is_off_without_a_token() -> None:
    async with gateway(settings(wechat_token="")) as (http, _, _app):
        assert (await http.get(URL, params=signed_query(token="", echostr="1"))).status_code == 404


async def test_text_push_is_taken_in_and_answered_with_the_ticket_number() -> None:
    async with gateway(settings()) as (http, broker, _):
        resp = await http.post(
            URL, params=signed_query(openid=OPENID), content=push("text", Content="红绿灯坏了两天了")
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/xml")
        reply = reply_fields(resp.content)
        assert (reply["ToUserName"], reply["FromUserName"], reply["MsgType"]) == (OPENID, ACCOUNT, "text")
        [record] = accepted_records(broker)
        value = orjson.loads(record.value)
        assert value["ticket_id"] in reply["Content"]
        assert (value["channel"], value["external_id"], value["citizen_key"]) == (
            "wechat",
            "24525861735218432",
            f"wx:{OPENID}",
        )
        assert value["content"] == "红绿灯坏了两天了"
        # WeChat retries a push it got no answer to: same MsgId, same ticket.
        again = await http.post(URL, params=signed_query(), content=push("text", Content="红绿灯坏了两天了"))
        assert value["ticket_id"] in reply_fields(again.content)["Content"]


@pytest.mark.parametrize(
    ("msg_type", "fields", "content", "flagged"),
    [
        ("voice", {"MediaId": "m1", "Format": "amr", "Recognition": "路灯不亮"}, "路灯不亮", True),
        ("voice", {"MediaId": "m1", "Format": "amr"}, "[语音消息]", True),
        ("image", {"MediaId": "m2", "PicUrl": "http://mmbiz.qpic.cn/a.jpg"}, "[图片消息]", True),
        (
            "location",
            {"Location_X": "39.99", "Location_Y": "116.35", "Scale": "15", "Label": "海淀区学院路30号"},
            "[位置消息] 海淀区学院路30号",
            True,
        ),
    ],
)
async def test_voice_image_location_pushes_are_taken_and_flagged(
    msg_type: str, fields: dict[str, str], content: str, flagged: bool
) -> None:
    async with gateway(settings()) as (http, broker, _):
        resp = await http.post(URL, params=signed_query(), content=push(msg_type, **fields))
        assert resp.status_code == 200, resp.text
        value = orjson.loads(accepted_records(broker)[0].value)
        assert value["content"] == content
        assert bool(value["review_reasons"]) is flagged
        assert value["submission"]["msg_type"] == msg_type
        if msg_type == "location":
            assert value["submission"]["location"] == {
                "latitude": 39.99,
                "longitude": 116.35,
                "address": "海淀区学院路30号",
            }


async def test_events_and_unsupported_types_are_answered_without_a_ticket() -> None:
    async with gateway(settings()) as (http, broker, _):
        event = await http.post(
            URL, params=signed_query(), content=push("event", msg_id=None, Event="subscribe")
        )
        assert (event.status_code, event.text) == (200, "success")
        video = await http.post(URL, params=signed_query(), content=push("video", MediaId="v"))
        assert video.status_code == 200
        assert "暂不支持" in reply_fields(video.content)["Content"]
        assert accepted_records(broker) == []


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<xml><MsgType>text</MsgType><Content>&x;</Content></xml>",
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><MsgType>text</MsgType><Content>&c;</Content></xml>',
        b"<xml><MsgType>text</MsgType><Content>unclosed</xml>",
        b"<notxml/>",
        b"",
    ],
    ids=["xxe", "entity-expansion", "malformed", "wrong-root", "empty"],
)
async def test_hostile_or_broken_xml_is_400(body: bytes) -> None:
    async with gateway(settings()) as (http, broker, _):
        resp = await http.post(URL, params=signed_query(), content=body)
        assert resp.status_code == 400, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert "root:" not in resp.text
        assert accepted_records(broker) == []


async def test_bad_signature_encrypted_mode_and_invalid_message() -> None:
    async with gateway(settings()) as (http, broker, _):
        body = push("text", Content="x")
        assert (await http.post(URL, params=signed_query(token="guess"), content=body)).status_code == 403
        encrypted = await http.post(URL, params=signed_query(encrypt_type="aes"), content=body)
        assert encrypted.status_code == 400
        # Invalid: the citizen is told in WeChat's own reply, not with an HTTP error WeChat would hide.
        empty = await http.post(URL, params=signed_query(), content=push("text", Content=" \u200b "))
        assert empty.status_code == 200 and empty.headers["content-type"].startswith("application/xml")
        assert "未能受理" in ElementTree.fromstring(empty.content).findtext("Content", "")
        assert accepted_records(broker) == []


async def test_bus_down_is_503_and_no_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    async with gateway(settings()) as (http, broker, _):

        async def refuse(*args: Any, **kwargs: Any) -> Any:
            raise BusUnavailable("down")

        monkeypatch.setattr(broker, "append", refuse)
        resp = await http.post(URL, params=signed_query(), content=push("text", Content="路灯坏了"))
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "2"


async def test_a_stale_or_future_timestamp_is_refused() -> None:
    async with gateway(settings(wechat_max_age_s=300)) as (http, broker, _):
        body = push("text", Content="红绿灯坏了")
        # Beyond the window by more than the second the timestamp loses to truncation (and a slow machine).
        for at in (time.time() - 305, time.time() + 305):
            resp = await http.post(URL, params=signed_query(at=at), content=body)
            assert resp.status_code == 403
            assert "timestamp" in resp.json()["detail"]
        stale_check = await http.get(URL, params=signed_query(at=time.time() - 3600, echostr="1"))
        assert stale_check.status_code == 403
        assert accepted_records(broker) == []


async def test_a_replayed_callback_with_another_body_is_refused_and_a_retry_is_not() -> None:
    async with gateway(settings()) as (http, broker, _):
        query = signed_query()
        first = push("text", msg_id="m-1", Content="红绿灯坏了")
        assert (await http.post(URL, params=query, content=first)).status_code == 200
        retry = await http.post(URL, params=query, content=first)  # WeChat's own retry: same body
        assert retry.status_code == 200
        forged = await http.post(URL, params=query, content=push("text", msg_id="m-2", Content="伪造的投诉"))
        assert forged.status_code == 403
        assert "replayed" in forged.json()["detail"]
        assert len({orjson.loads(r.value)["ticket_id"] for r in accepted_records(broker)}) == 1


async def test_one_user_over_its_rate_is_told_in_wechat_and_others_go_on() -> None:
    async with gateway(settings(wechat_openid_per_minute=1, wechat_openid_burst=2)) as (http, broker, _):
        replies = []
        for n in range(3):
            body = push("text", msg_id=f"burst-{n}", Content=f"第{n}条：路灯坏了")
            replies.append(reply_fields((await http.post(URL, params=signed_query(), content=body)).content))
        assert "工单号" in replies[0]["Content"] and "工单号" in replies[1]["Content"]
        assert "过于频繁" in replies[2]["Content"]
        other = push("text", msg_id="other-1", Content="路灯坏了").replace(OPENID.encode(), b"oOtherUser123")
        assert (
            "工单号"
            in reply_fields((await http.post(URL, params=signed_query(), content=other)).content)["Content"]
        )
        assert len(accepted_records(broker)) == 3


AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx5823bf96d3bd56c7"


def encrypted_push(crypto: WechatCrypto, inner: bytes, query: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """The query and body WeChat sends in encrypted mode for the message `inner`."""
    encrypted = crypto.encrypt(inner)
    signed = {**query, "encrypt_type": "aes"}
    signed["msg_signature"] = crypto.signature(query["timestamp"], query["nonce"], encrypted)
    body = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    return signed, body.encode()


async def test_encrypted_mode_decrypts_the_push_and_encrypts_the_reply() -> None:
    config = settings(wechat_aes_key=AES_KEY, wechat_app_id=APP_ID)
    crypto = WechatCrypto(WECHAT_TOKEN, AES_KEY, APP_ID)
    async with gateway(config) as (http, broker, _):
        query, body = encrypted_push(
            crypto, push("text", msg_id="aes-1", Content="红绿灯坏了"), signed_query()
        )
        resp = await http.post(URL, params=query, content=body)
        assert resp.status_code == 200, resp.text
        outer = reply_fields(resp.content)
        assert outer["MsgSignature"] == crypto.signature(outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
        inner = crypto.decrypt(outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
        [record] = accepted_records(broker)
        assert orjson.loads(record.value)["ticket_id"] in reply_fields(inner)["Content"]
        assert b"aes-1" in record.value

        # A body changed in transit, or one for another account, is refused: the body is signed here.
        query, body = encrypted_push(crypto, push("text", msg_id="aes-2", Content="x"), signed_query())
        tampered = await http.post(URL, params={**query, "msg_signature": "0" * 40}, content=body)
        assert tampered.status_code == 403
        other = WechatCrypto(WECHAT_TOKEN, AES_KEY, "wx-another-account")
        query, body = encrypted_push(other, push("text", msg_id="aes-3", Content="x"), signed_query())
        assert (await http.post(URL, params=query, content=body)).status_code == 403
        assert len(accepted_records(broker)) == 1


def test_tencents_published_test_vector_decrypts() -> None:
    # The sample of Tencent's own WXBizMsgCrypt documentation: token, EncodingAESKey, AppID and one push.
    crypto = WechatCrypto("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")
    encrypted = (
        "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/s"
        "YYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZ"
        "fJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3"
        "LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVK"
        "n28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
    )
    message = crypto.decrypt(
        "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", encrypted
    )
    assert reply_fields(message)["Content"] == "hello"
    assert reply_fields(message)["MsgId"] == "4561255354251345929"


class HangingLedger:
    """A replay ledger on a database that does not answer."""

    async def is_replay(self, timestamp: str, nonce: str, body: bytes) -> bool:
        await asyncio.sleep(3600)
        return False


def _unavailable() -> float:
    labels = {"reason": "wechat_replay_check_unavailable"}
    return REGISTRY.get_sample_value("jiesu_gateway_rejections_total", labels) or 0.0


@pytest.mark.parametrize("database", ["refusing", "hanging"])
async def test_without_the_replay_check_a_push_is_503_and_nothing_is_accepted(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The unit settings' database is unreachable: the real ledger's connection is refused at once.
    monkeypatch.setattr(wechat_routes, "LEDGER_TIMEOUT_S", 0.2)
    async with gateway(settings()) as (http, broker, app):
        if database == "refusing":
            del app.state.wechat_ledger
        else:
            app.state.wechat_ledger = HangingLedger()
        before = _unavailable()
        resp = await http.post(URL, params=signed_query(), content=push("text", Content="路灯坏了"))
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "2"
        assert "replay check is unavailable" in resp.json()["detail"]
        assert _unavailable() - before == 1
        assert accepted_records(broker) == []
