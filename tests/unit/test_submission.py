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
