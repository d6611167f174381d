"""The submission shapes channel adapters post to `POST /v1/complaints`, one model per channel.

Every free-text field goes through `normalise_text` (NFKC, control and invisible characters removed, spaces
collapsed) and is bounded; identifiers are bounded and restricted to a safe alphabet; phone numbers are
validated as mainland mobile or landline numbers. Nothing a citizen said is dropped for being unclear: a
voice message without recognition text, a picture, a location or a badly transcribed call is accepted and
carries a review reason so that a person looks at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    model_validator,
)
from pydantic import Strict as NoCoercion

from ingest.normalise import normalise_phone, normalise_text

# Bounds on free text: long enough for the longest real petition in the reference data (~5k characters),
# short enough that one submission cannot make a Kafka record or a classifier call expensive.
MAX_TITLE = 200
MAX_CONTENT = 8000
MAX_SEGMENTS = 500
# Below this mean speech-recognition confidence a phone transcript is accepted but flagged for review.
LOW_ASR_CONFIDENCE = 0.6


def _non_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be empty after normalisation")
    return value


Text = Annotated[str, AfterValidator(normalise_text)]
Phone = Annotated[
    str,
    Field(
        max_length=32,
        description="Mainland mobile (1xxxxxxxxxx) or landline (0 + area code + number); "
        "spaces, dashes, brackets and a +86/0086 prefix are allowed and removed",
        examples=["13800138000", "+86 138-0013-8000", "010-62345678"],
    ),
    AfterValidator(normalise_phone),
]
ExternalId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.:@/+=-]+$")]
# Identifiers issued by other systems (WeChat openids and media ids, call-centre agent ids, form field names).
Token = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.:@/+=-]+$")]
Title = Annotated[str, Field(max_length=MAX_TITLE * 2), AfterValidator(normalise_text)]
Content = Annotated[str, Field(max_length=MAX_CONTENT * 2), AfterValidator(normalise_text)]
# A JSON number: an integer or a float, never a boolean or a numeric string.
Number = Annotated[float, NoCoercion()]


def _iso_text(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and not _NUMERIC.match(value)):
        return value
    raise ValueError("want an ISO 8601 date-time string")


_NUMERIC = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


# A date-time as the document says (ISO 8601 text), not a bare number taken for Unix seconds.
Timestamp = Annotated[datetime, BeforeValidator(_iso_text)]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")]


class Strict(BaseModel):
    """Base of every inbound model: unknown fields are an error, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_CONTENT * 2, allow_inf_nan=False)


class Citizen(Strict):
    """Who complains, and how to reach them; every field optional because many citizens stay anonymous."""

    phone: Phone | None = Field(
        default=None, description="The citizen's phone number, to call back (and what links their tickets)"
    )
    wechat_openid: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w-]+$")] | None = Field(
        default=None, description="The citizen's openid on the official account (WeChat `FromUserName`)"
    )
    name: Annotated[Text, Field(max_length=64)] | None = Field(
        default=None, description="How the citizen gave their name, if they did"
    )
    email: Email | None = Field(default=None, description="Contact e-mail (web forms)")

    def shard_key(self) -> str | None:
        """The citizen's identity, used as Kafka key and for resubmission detection."""
        if self.phone:
            return f"tel:{self.phone}"
        if self.wechat_openid:
            return f"wx:{self.wechat_openid}"
        return None


class Location(Strict):
    """Where the problem is, as far as the citizen said (a WeChat location message puts its label in
    `address` and its coordinates in `latitude`/`longitude`)."""

    district: Annotated[Text, Field(max_length=32)] | None = Field(
        default=None, description="The district, as the adapter knows it (e.g. 朝阳区)"
    )
    address: Annotated[Text, Field(max_length=256)] | None = Field(
        default=None, description="The address or place as given (a WeChat location message's label)"
    )
    latitude: Annotated[Number, Field(ge=-90, le=90)] | None = Field(
        default=None, description="Latitude in degrees, as the adapter sent it"
    )
    longitude: Annotated[Number, Field(ge=-180, le=180)] | None = Field(
        default=None, description="Longitude in degrees, as the adapter sent it"
    )


class _Common(Strict):
    external_id: ExternalId | None = Field(
        default=None,
        description="The adapter's own id of this message (WeChat MsgId, web form id, call id): "
        "with the channel it is the idempotency key, so a retry yields the same ticket",
    )
    citizen: Citizen = Field(default_factory=Citizen, description="Who complains; may stay anonymous")
    location: Location | None = Field(default=None, description="Where the problem is, if the citizen said")
    submitted_at: Timestamp | None = Field(default=None, description="When the citizen sent it, if known")


class WebSubmission(_Common):
    """A web-form submission: title and text, contact, an optional category hint, attachments by URL."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "web",
                    "external_id": "web-0001",
                    "title": "小区门口烧烤摊夜间噪音扰民",
                    "content": "朝阳区望京西园三区门口的烧烤摊每天营业到凌晨两点，油烟和噪音很大。",
                    "citizen": {"phone": "13800138000", "name": "王女士", "email": "wang@example.com"},
                    "location": {"district": "朝阳区", "address": "望京西园三区"},
                    "category_hint": "环境保护",
                    "attachments": ["https://portal.example.gov.cn/uploads/2024/05/bbq.jpg"],
                    "form_fields": {"reply_by": "sms"},
                }
            ]
        }
    )

    channel: Literal["web"] = Field(description="`web`: a web form (Open311 has its own endpoints)")
    title: Title = Field(default="", description="The form's subject line")
    content: Annotated[Content, AfterValidator(_non_blank)] = Field(description="The complaint's text")
    category_hint: Annotated[Text, Field(max_length=32)] | None = Field(
        default=None, description="The category the citizen picked on the form, if any (a hint only)"
    )
    attachments: Annotated[list[HttpUrl], Field(max_length=10)] = Field(
        default_factory=list, description="Photos or documents, by URL (http or https)"
    )
    form_fields: Annotated[dict[Token, Annotated[Text, Field(max_length=1000)]], Field(max_length=20)] = (
        Field(default_factory=dict, description="Any other form fields, kept as given (normalised)")
    )


class WechatSubmission(_Common):
    """A message to the WeChat official account: text, voice (with WeChat's recognition), image or location.

    `external_id` is the message's MsgId; `citizen.wechat_openid` its FromUserName.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "wechat",
                    "external_id": "24525861735218432",
                    "msg_type": "voice",
                    "recognition": "海淀区学院路路口的红绿灯坏了两天了",
                    "media_ids": ["MEDIA_ID_1c2d3e"],
                    "citizen": {"wechat_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
                },
                {
                    "channel": "wechat",
                    "external_id": "24525861735218433",
                    "msg_type": "location",
                    "location": {"address": "北京市海淀区学院路30号", "latitude": 39.99, "longitude": 116.35},
                    "citizen": {"wechat_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
                },
            ]
        }
    )

    channel: Literal["wechat"] = Field(description="`wechat`: a message to the official account")
    msg_type: Literal["text", "voice", "image", "location"] = Field(
        default="text", description="WeChat MsgType"
    )
    title: Title = Field(default="", description="A title, if the adapter makes one (messages have none)")
    content: Content = Field(default="", description="The text message's Content")
    recognition: Content | None = Field(
        default=None, description="WeChat's speech recognition of a voice message (Recognition)"
    )
    media_ids: Annotated[list[Token], Field(max_length=9)] = Field(
        default_factory=list, description="MediaId of the voice or image, for fetching it from WeChat"
    )
    pic_url: HttpUrl | None = Field(default=None, description="PicUrl of an image message")

    @model_validator(mode="after")
    def _has_substance(self) -> WechatSubmission:
        kind = self.msg_type
        if kind == "text" and not (self.content or self.recognition):
            raise ValueError("a WeChat text message needs content")
        if kind == "voice" and not (self.content or self.recognition or self.media_ids):
            raise ValueError("a WeChat voice message needs recognition text or a media id")
        if kind == "image" and not (self.media_ids or self.pic_url):
            raise ValueError("a WeChat image message needs a media id or pic_url")
        if kind == "location" and (
            self.location is None or self.location.latitude is None or self.location.longitude is None
        ):
            raise ValueError("a WeChat location message needs location.latitude and location.longitude")
        return self


class TranscriptSegment(Strict):
    """One utterance of a transcribed call."""

    speaker: Literal["citizen", "agent"] = Field(description="Who spoke: the citizen or the hotline's agent")
    text: Annotated[Text, Field(max_length=2000)] = Field(description="What was said, as recognised")
    confidence: Annotated[Number, Field(ge=0, le=1)] = Field(
        default=1.0, description="Speech-recognition confidence of this utterance, 0–1"
    )
    start_s: Annotated[Number, Field(ge=0, le=24 * 3600)] | None = Field(
        default=None, description="Offset of the utterance from the start of the call, seconds"
    )


class Call(Strict):
    """A call to the hotline as the call-centre transcription system reports it."""

    call_id: ExternalId = Field(description="The call-centre's id of the call")
    caller: Phone | None = Field(
        default=None, description="The calling number, if shown (the citizen's identity when none is given)"
    )
    agent_id: Token | None = Field(default=None, description="The agent who took the call")
    started_at: Timestamp | None = Field(default=None, description="When the call began (ISO 8601)")
    duration_s: Annotated[Number, Field(ge=0, le=24 * 3600)] | None = Field(
        default=None, description="How long the call lasted, seconds"
    )
    transcript: Annotated[list[TranscriptSegment], Field(min_length=1, max_length=MAX_SEGMENTS)] = Field(
        description="The call's utterances in order, at least one"
    )


class PhoneSubmission(_Common):
    """A phone call, transcribed by speech recognition; low-confidence transcripts are taken and flagged."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "phone",
                    "external_id": "call-0001",
                    "call": {
                        "call_id": "call-0001",
                        "caller": "13900139000",
                        "agent_id": "agent-017",
                        "duration_s": 182,
                        "transcript": [
                            {
                                "speaker": "citizen",
                                "text": "我家楼下的路灯坏了一个星期了",
                                "confidence": 0.93,
                            },
                            {"speaker": "agent", "text": "请问具体地址是哪里", "confidence": 0.97},
                            {
                                "speaker": "citizen",
                                "text": "丰台区方庄芳城园一区十二号楼",
                                "confidence": 0.88,
                            },
                        ],
                    },
                }
            ]
        }
    )

    channel: Literal["phone"] = Field(description="`phone`: a call to the hotline, transcribed")
    title: Title = Field(default="", description="A title, if the call-centre system gives one")
    call: Call = Field(description="The call and its transcript")


AnySubmission = WebSubmission | WechatSubmission | PhoneSubmission
Submission = Annotated[AnySubmission, Field(discriminator="channel")]
CHANNELS = ("web", "wechat", "phone")


@dataclass(slots=True)
class IntakeText:
    """What the workers read from any submission: title, text, identity, place, review flags.

    A dataclass, not a model: it is built from already validated fields, once per submission, on the hot path.
    """

    title: str
    content: str
    citizen_key: str | None
    district: str | None
    address: str | None
    review_reasons: list[str]


def _phone_text(sub: PhoneSubmission, reasons: list[str]) -> str:
    said = [seg for seg in sub.call.transcript if seg.speaker == "citizen"] or sub.call.transcript
    content = "".join(seg.text for seg in said)
    mean_conf = sum(seg.confidence for seg in said) / len(said)
    if mean_conf < LOW_ASR_CONFIDENCE:
        reasons.append(f"low speech-recognition confidence {mean_conf:.2f}")
    if not content:
        reasons.append("empty transcript: listen to the call recording")
        content = "[通话录音，转写为空]"
    return content


def _wechat_text(sub: WechatSubmission, reasons: list[str]) -> str:
    if sub.content:
        return sub.content
    if sub.recognition:
        reasons.append("voice message: text is WeChat's speech recognition")
        return sub.recognition
    if sub.msg_type == "voice":
        reasons.append("voice message without recognition text: listen to the media")
        return "[语音消息]"
    if sub.msg_type == "image":
        reasons.append("image message without text: look at the picture")
        return "[图片消息]"
    label = sub.location.address if sub.location and sub.location.address else ""
    reasons.append("location message without text: ask the citizen what the problem is")
    return f"[位置消息] {label}".strip()


def intake_text(sub: AnySubmission) -> IntakeText:
    """Flatten a channel submission into the fields the pipeline works on."""
    reasons: list[str] = []
    citizen_key = sub.citizen.shard_key()
    if isinstance(sub, PhoneSubmission):
        content = _phone_text(sub, reasons)
        if citizen_key is None and sub.call.caller:
            citizen_key = f"tel:{sub.call.caller}"
    elif isinstance(sub, WechatSubmission):
        content = _wechat_text(sub, reasons)
    else:
        content = sub.content
    loc = sub.location
    return IntakeText(
        title=sub.title[:MAX_TITLE],
        content=content[:MAX_CONTENT],
        citizen_key=citizen_key,
        district=loc.district if loc else None,
        address=loc.address if loc else None,
        review_reasons=reasons,
    )


def external_id_of(sub: AnySubmission) -> str | None:
    """The adapter's id of the message: `external_id`, or the call id for phone submissions."""
    if sub.external_id:
        return sub.external_id
    if isinstance(sub, PhoneSubmission):
        return sub.call.call_id
    return None
