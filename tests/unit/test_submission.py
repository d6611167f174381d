"""The three submission shapes of the foundation issue, and what is refused."""

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from ingest.schemas.submission import PhoneSubmission, Submission, external_id_of, intake_text

ADAPTER: TypeAdapter[Any] = TypeAdapter(Submission)

WEB: dict[str, Any] = {
    "channel": "web",
    "external_id": "web-0001",
    "title": "小区门口烧烤摊夜间噪音扰民",
    "content": "朝阳区望京西园三区门口的烧烤摊每天营业到凌晨两点，油烟和噪音很大。",
    "citizen": {"phone": "13800138000"},
    "location": {"district": "朝阳区", "address": "望京西园三区"},
}
WECHAT: dict[str, Any] = {
    "channel": "wechat",
    "external_id": "wx-msg-0001",
    "content": "海淀区学院路路口的红绿灯坏了两天了。",
    "citizen": {"wechat_openid": "oAbC123xyz"},
}
PHONE: dict[str, Any] = {
    "channel": "phone",
    "external_id": "call-0001",
    "call": {
        "call_id": "call-0001",
        "caller": "13900139000",
        "duration_s": 182,
        "transcript": [
            {"speaker": "citizen", "text": "我家楼下的路灯坏了一个星期了", "confidence": 0.93},
            {"speaker": "agent", "text": "请问具体地址是哪里", "confidence": 0.97},
            {"speaker": "citizen", "text": "丰台区方庄芳城园一区十二号楼", "confidence": 0.88},
        ],
    },
}


@pytest.mark.parametrize("body", [WEB, WECHAT, PHONE], ids=["web", "wechat", "phone"])
def test_the_three_shapes_are_valid(body: dict[str, Any]) -> None:
    sub = ADAPTER.validate_python(body)
    assert sub.channel == body["channel"]
    assert intake_text(sub).content


def test_web_text_normalised_and_fields_flattened() -> None:
    text = intake_text(ADAPTER.validate_python(WEB))
    assert text.citizen_key == "tel:13800138000"
    assert text.district == "朝阳区"
    # NFKC turns the full-width comma into an ASCII one.
    assert "," in text.content and "，" not in text.content


def test_phone_content_is_what_the_citizen_said() -> None:
    sub = ADAPTER.validate_python(PHONE)
    assert isinstance(sub, PhoneSubmission)
    text = intake_text(sub)
    assert text.content == "我家楼下的路灯坏了一个星期了丰台区方庄芳城园一区十二号楼"
    assert text.citizen_key == "tel:13900139000"
    assert text.review_reasons == []
    assert external_id_of(sub) == "call-0001"


def test_low_confidence_transcript_is_accepted_and_flagged() -> None:
    body = {
        **PHONE,
        "call": {**PHONE["call"], "transcript": [{"speaker": "citizen", "text": "嗯", "confidence": 0.2}]},
    }
    text = intake_text(ADAPTER.validate_python(body))
    assert text.review_reasons and "confidence" in text.review_reasons[0]


def _error_locs(body: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as info:
        ADAPTER.validate_python(body)
    return {".".join(str(p) for p in e["loc"]) for e in info.value.errors()}


def test_unknown_channel_is_refused() -> None:
    assert _error_locs({**WEB, "channel": "fax"})


def test_refusals_name_the_field() -> None:
    assert any("phone" in loc for loc in _error_locs({**WEB, "citizen": {"phone": "12"}}))
    assert any("content" in loc for loc in _error_locs({**WEB, "content": " \x00 "}))
    assert any("surprise" in loc for loc in _error_locs({**WEB, "surprise": 1}))
    assert any(
        "transcript" in loc for loc in _error_locs({**PHONE, "call": {**PHONE["call"], "transcript": []}})
    )


@pytest.mark.parametrize(
    ("body", "content", "reason"),
    [
        ({"msg_type": "voice", "media_ids": ["m1"]}, "[语音消息]", "listen"),
        ({"msg_type": "voice", "recognition": "路灯不亮"}, "路灯不亮", "recognition"),
        ({"msg_type": "image", "pic_url": "https://mmbiz.qpic.cn/a.jpg"}, "[图片消息]", "picture"),
        (
            {"msg_type": "location", "location": {"latitude": 39.9, "longitude": 116.4, "address": "学院路"}},
            "[位置消息] 学院路",
            "location",
        ),
    ],
)
def test_wechat_messages_without_text_are_taken_and_flagged(
    body: dict[str, Any], content: str, reason: str
) -> None:
    sub = ADAPTER.validate_python({"channel": "wechat", "external_id": "m", **body})
    text = intake_text(sub)
    assert text.content == content
    assert reason in text.review_reasons[0]


@pytest.mark.parametrize(
    "body",
    [
        {"msg_type": "text"},
        {"msg_type": "voice"},
        {"msg_type": "image"},
        {"msg_type": "location", "location": {"address": "学院路"}},
        {"msg_type": "video", "content": "x"},
        {"content": "x", "media_ids": ["bad id!"]},
    ],
)
def test_wechat_messages_without_substance_are_refused(body: dict[str, Any]) -> None:
    assert _error_locs({"channel": "wechat", **body})


def test_web_contact_form_fields_and_attachments() -> None:
    sub = ADAPTER.validate_python(
        {
            **WEB,
            "citizen": {"phone": "+86 138-0013-8000", "email": "a@example.com", "name": "  王\u200b女士 "},
            "category_hint": "环境保护",
            "attachments": ["https://example.com/a.jpg"],
            "form_fields": {"reply_by": "ＳＭＳ"},
        }
    )
    assert sub.citizen.phone == "13800138000"
    assert sub.citizen.name == "王女士"
    assert sub.form_fields == {"reply_by": "SMS"}
    assert any("email" in loc for loc in _error_locs({**WEB, "citizen": {"email": "not-an-address"}}))
    assert any("attachments" in loc for loc in _error_locs({**WEB, "attachments": ["javascript:alert(1)"]}))
    assert any("attachments" in loc for loc in _error_locs({**WEB, "attachments": ["https://e.com/"] * 11}))


def test_text_is_bounded() -> None:
    long = {**WEB, "title": "标" * 300, "content": "文" * 9000}
    text = intake_text(ADAPTER.validate_python(long))
    assert (len(text.title), len(text.content)) == (200, 8000)
    assert _error_locs({**WEB, "content": "文" * 16001})


def test_silent_call_is_taken_and_flagged() -> None:
    body = {
        **PHONE,
        "call": {
            **PHONE["call"],
            "transcript": [{"speaker": "citizen", "text": "\u200b", "confidence": 0.1}],
        },
    }
    text = intake_text(ADAPTER.validate_python(body))
    assert text.content
    assert any("empty transcript" in r for r in text.review_reasons)


def test_non_finite_numbers_are_refused() -> None:
    assert _error_locs({**WEB, "location": {"latitude": float("nan")}})


def test_only_ascii_digits_make_a_phone_number() -> None:
    # NFKC folds full-width digits to ASCII but leaves other scripts' digits alone.
    assert (
        ADAPTER.validate_python({**WEB, "citizen": {"phone": "１３８００１３８０００"}}).citizen.phone
        == "13800138000"
    )
    assert _error_locs({**WEB, "citizen": {"phone": "١٣٨٠٠١٣٨٠٠٠"}})


@pytest.mark.parametrize(
    "change",
    [
        {"location": {"latitude": True}},
        {"location": {"longitude": "116.4"}},
        {"submitted_at": 1717000000},
        {"submitted_at": "1717000000"},
    ],
)
def test_types_are_those_of_the_document(change: dict[str, Any]) -> None:
    # No lax coercion: a boolean or a numeric string is not a number, a number is not a date-time.
    assert _error_locs({**WEB, **change})
