"""The WeChat official-account callback protocol (plaintext mode): signature, message push, passive reply.

The push is parsed with the standard library's expat with every DTD and entity declaration refused, so no
external entity is fetched and no entity is expanded (no XXE, no billion laughs). Only the flat fields of
the root `<xml>` element are read.
"""

from __future__ import annotations

import hashlib
import hmac
import xml.parsers.expat
from datetime import UTC, datetime
from typing import Any, NoReturn

from ingest.schemas.submission import WechatSubmission

# Message types taken in as complaints; events (subscribe, menu clicks) and others are answered otherwise.
SUBMISSION_TYPES = ("text", "voice", "image", "location")
MAX_FIELDS = 64


def signature_ok(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """WeChat's server signature: sha1 of the sorted token, timestamp and nonce, compared in constant time."""
    joined = "".join(sorted([token, timestamp, nonce])).encode("utf-8", "surrogatepass")
    expected = hashlib.sha1(joined).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass"))


def _refuse(*_: Any) -> NoReturn:
    raise ValueError("DTDs, entity declarations and external references are not accepted")


def parse_push(body: bytes) -> dict[str, str]:
    """The child elements of the push's root `<xml>` as {name: text}; ValueError when it is not one."""
    parser = xml.parsers.expat.ParserCreate(encoding="utf-8")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    fields: dict[str, str] = {}
    path: list[str] = []
    text: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if not path and name != "xml":
            raise ValueError(f"the root element must be <xml>, not <{name}>")
        path.append(name)
        text.clear()

    def end(name: str) -> None:
        if len(path) == 2:
            if len(fields) >= MAX_FIELDS:
                raise ValueError("too many fields")
            fields[name] = "".join(text).strip()
        path.pop()
        text.clear()

    def chars(data: str) -> None:
        if len(path) == 2:
            text.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(body, True)
    except xml.parsers.expat.ExpatError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    return fields


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def submission_of(fields: dict[str, str]) -> dict[str, Any]:
    """The WechatSubmission body of a text, voice, image or location push (validated by the caller)."""
    kind = fields.get("MsgType", "")
    body: dict[str, Any] = {
        "channel": "wechat",
        # WeChat retries a push with the same MsgId; events have none, and are deduplicated by sender + time.
        "external_id": fields.get("MsgId")
        or f"{fields.get('FromUserName', '')}:{fields.get('CreateTime', '')}",
        "msg_type": kind,
        "citizen": {"wechat_openid": fields.get("FromUserName", "")},
    }
    created = fields.get("CreateTime", "")
    if created.isdecimal() and len(created) <= 12:
        body["submitted_at"] = datetime.fromtimestamp(int(created), UTC).isoformat()
    if kind == "text":
        body["content"] = fields.get("Content", "")
    elif kind == "voice":
        if fields.get("Recognition"):
            body["recognition"] = fields["Recognition"]
        if fields.get("MediaId"):
            body["media_ids"] = [fields["MediaId"]]
    elif kind == "image":
        if fields.get("MediaId"):
            body["media_ids"] = [fields["MediaId"]]
        if fields.get("PicUrl"):
            body["pic_url"] = fields["PicUrl"]
    elif kind == "location":
        location: dict[str, Any] = {
            "latitude": _float(fields.get("Location_X")),
            "longitude": _float(fields.get("Location_Y")),
        }
        if fields.get("Label"):
            location["address"] = fields["Label"]
        body["location"] = location
    return body


def parse_submission(fields: dict[str, str]) -> WechatSubmission:
    """The push as a validated WechatSubmission (pydantic ValidationError when it is not a valid one)."""
    return WechatSubmission.model_validate(submission_of(fields))


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(to_user: str, from_user: str, content: str, now: datetime | None = None) -> bytes:
    """The passive reply: a text message back to the citizen."""
    created = int((now or datetime.now(UTC)).timestamp())
    return (
        "<xml>"
        f"<ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content>"
        "</xml>"
    ).encode()


def accepted_text(ticket_id: str) -> str:
    """What the citizen reads when the complaint is taken."""
    return f"您的诉求已受理，工单号：{ticket_id}。请保存工单号，用于查询办理进度。"


# A message the citizen must change to be heard (empty, too long): said in WeChat's own reply, since WeChat
# shows its users only a generic failure for an HTTP error, and a retry of the same message cannot succeed.
INVALID_TEXT = "您的消息未能受理：内容为空、过长或无法识别。请用文字描述您的诉求后重新发送，或拨打12345热线。"
UNSUPPORTED_TEXT = "暂不支持此类消息。请发送文字、语音、图片或位置描述您的诉求，或拨打12345热线。"
TOO_FAST_TEXT = "您发送消息过于频繁，本条未能受理。请稍候一分钟后重新发送，或拨打12345热线。"
