"""The submission shapes channel adapters post to `POST /v1/complaints`, one model per channel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, model_validator

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
Phone = Annotated[str, Field(max_length=32), AfterValidator(normalise_phone)]
ExternalId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.:@/+=-]+$")]
Title = Annotated[str, Field(max_length=MAX_TITLE * 2), AfterValidator(normalise_text)]
Content = Annotated[str, Field(max_length=MAX_CONTENT * 2), AfterValidator(normalise_text)]


class Strict(BaseModel):
    """Base of every inbound model: unknown fields are an error, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_CONTENT * 2)


class Citizen(Strict):
    """Who complains; every field optional because many citizens stay anonymous."""

    phone: Phone | None = None
    wechat_openid: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w-]+$")] | None = None
    name: Annotated[Text, Field(max_length=64)] | None = None

    def shard_key(self) -> str | None:
        """The citizen's identity, used as Kafka key and for resubmission detection."""
        if self.phone:
            return f"tel:{self.phone}"
        if self.wechat_openid:
            return f"wx:{self.wechat_openid}"
        return None


class Location(Strict):
    """Where the problem is, as far as the citizen said."""

    district: Annotated[Text, Field(max_length=32)] | None = None
    address: Annotated[Text, Field(max_length=256)] | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None


class _Common(Strict):
    external_id: ExternalId | None = Field(
        default=None, description="The adapter's own id of this message; the idempotency key with the channel"
    )
    citizen: Citizen = Field(default_factory=Citizen)
    location: Location | None = None
    submitted_at: datetime | None = Field(default=None, description="When the citizen sent it, if known")


class WebSubmission(_Common):
    """A web-form submission."""

    channel: Literal["web"]
    title: Title = ""
    content: Annotated[Content, AfterValidator(_non_blank)]
    category_hint: Annotated[Text, Field(max_length=32)] | None = None
    attachments: Annotated[list[HttpUrl], Field(max_length=10)] = Field(default_factory=list)


class WechatSubmission(_Common):
    """A message to the WeChat official account (text, or voice with its recognition text)."""

    channel: Literal["wechat"]
    msg_type: Literal["text", "voice", "image", "location"] = "text"
    title: Title = ""
    content: Content = ""
    recognition: Content | None = Field(
        default=None, description="WeChat's speech recognition of a voice message"
    )
    media_ids: Annotated[list[Annotated[str, Field(max_length=128)]], Field(max_length=9)] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _has_text(self) -> WechatSubmission:
        if not (self.content or self.recognition):
            raise ValueError("a WeChat submission needs content or voice recognition text")
        return self


class TranscriptSegment(Strict):
    """One utterance of a transcribed call."""

    speaker: Literal["citizen", "agent"]
    text: Annotated[Text, Field(max_length=2000)]
    confidence: Annotated[float, Field(ge=0, le=1)] = 1.0


class Call(Strict):
    """A call to the hotline as the call-centre transcription system reports it."""

    call_id: ExternalId
    caller: Phone | None = None
    agent_id: Annotated[str, Field(max_length=64)] | None = None
    duration_s: Annotated[float, Field(ge=0, le=24 * 3600)] | None = None
    transcript: Annotated[list[TranscriptSegment], Field(min_length=1, max_length=MAX_SEGMENTS)]


class PhoneSubmission(_Common):
    """A phone call, transcribed by speech recognition."""

    channel: Literal["phone"]
    title: Title = ""
    call: Call


Submission = Annotated[WebSubmission | WechatSubmission | PhoneSubmission, Field(discriminator="channel")]
CHANNELS = ("web", "wechat", "phone")


class IntakeText(BaseModel):
    """What the workers read from any submission: title, text, identity, place, review flags."""

    title: str
    content: str
    citizen_key: str | None
    district: str | None
    address: str | None
    review_reasons: list[str]


def intake_text(sub: WebSubmission | WechatSubmission | PhoneSubmission) -> IntakeText:
    """Flatten a channel submission into the fields the pipeline works on."""
    reasons: list[str] = []
    citizen_key = sub.citizen.shard_key()
    if isinstance(sub, PhoneSubmission):
        said = [seg for seg in sub.call.transcript if seg.speaker == "citizen"] or sub.call.transcript
        content = "".join(seg.text for seg in said)
        mean_conf = sum(seg.confidence for seg in said) / len(said)
        if mean_conf < LOW_ASR_CONFIDENCE:
            reasons.append(f"low speech-recognition confidence {mean_conf:.2f}")
        if citizen_key is None and sub.call.caller:
            citizen_key = f"tel:{sub.call.caller}"
    elif isinstance(sub, WechatSubmission):
        content = sub.content or sub.recognition or ""
        if not sub.content:
            reasons.append("voice message: text is WeChat's speech recognition")
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


def external_id_of(sub: WebSubmission | WechatSubmission | PhoneSubmission) -> str | None:
    """The adapter's id of the message: `external_id`, or the call id for phone submissions."""
    if sub.external_id:
        return sub.external_id
    if isinstance(sub, PhoneSubmission):
        return sub.call.call_id
    return None
