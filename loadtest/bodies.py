"""The request body of every message of a plan, built on demand and deterministic for (seed, message number).

Valid bodies follow the channel shapes of `ingest/schemas/submission.py`; invalid ones are each broken in
one way the gateway must refuse with 422. A retry sends its message's body again, byte for byte.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import orjson

from loadtest.plan import CHANNELS, Kind, Plan
from loadtest.texts import Corpus, Incident, Text, everyday, incident, paraphrase, resubmission

# Ways a submission is broken, by channel (the shape-specific ones) and for every channel.
INVALID_BY_CHANNEL = {"web": "empty_content", "wechat": "wechat_no_text", "phone": "phone_no_transcript"}
INVALID_ANY = ("unknown_field", "unknown_channel", "bad_external_id", "bad_phone", "malformed_json")
_AGENT_OPENING = "您好，这里是12345市民服务热线，请讲。"
_AGENT_WHERE = "请问具体地址是哪里？"
_UTTERANCE = 600  # characters; the schema allows 2,000 per segment


def _digits(key: str, n: int) -> str:
    """`n` decimal digits derived from `key` (stable across processes, unlike hash())."""
    value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    return str(value % 10**n).zfill(n)


class Messages:
    """Bodies, external ids and citizens of a plan's messages."""

    def __init__(
        self,
        plan: Plan,
        run_id: str,
        corpus: Corpus | None = None,
        incident_kind: str | None = None,
    ) -> None:
        self.plan = plan
        self.run_id = run_id
        self.corpus = corpus
        self.seed = plan.spec.seed
        self.incident: Incident | None = None
        if int((plan.msg_kind == Kind.BURST).sum()):
            self.incident = incident(random.Random(f"{self.seed}:incident"), incident_kind)

    def _rng(self, m: int, purpose: str = "") -> random.Random:
        return random.Random(f"{self.seed}:{m}:{purpose}")

    def external_id(self, m: int) -> str:
        """The adapter's id of message `m`: unique per run, the idempotency key with the channel."""
        return f"{self.run_id}-{m:08d}"

    def citizen_number(self, m: int) -> int:
        """Who sent message `m`: resubmissions come from the citizen of the complaint they repeat."""
        ref = int(self.plan.msg_ref[m])
        return ref if ref >= 0 else m

    def phone(self, citizen: int) -> str:
        """A citizen's mobile number."""
        return "13" + _digits(f"{self.seed}:tel:{citizen}", 9)

    def openid(self, citizen: int) -> str:
        """A citizen's WeChat openid."""
        return "o" + hashlib.blake2b(f"{self.seed}:wx:{citizen}".encode(), digest_size=14).hexdigest()

    def text(self, m: int) -> Text:
        """The words of message `m`."""
        kind = int(self.plan.msg_kind[m])
        rng = self._rng(m, "text")
        if kind == Kind.BURST and self.incident is not None:
            return paraphrase(self.incident, rng)
        if kind == Kind.RESUBMIT:
            return resubmission(self.text(int(self.plan.msg_ref[m])), rng)
        label = self.plan.label_of(m)
        if label is not None:
            return label.as_text()
        if self.corpus is not None:
            return self.corpus.pick(rng)
        return everyday(rng)

    def channel(self, m: int) -> str:
        """Channel of message `m`."""
        return CHANNELS[int(self.plan.msg_channel[m])]

    def payload(self, m: int) -> dict[str, Any]:
        """The valid JSON object of message `m` (before any breaking)."""
        channel, text, rng = self.channel(m), self.text(m), self._rng(m, "body")
        citizen = self.citizen_number(m)
        location = {k: v for k, v in (("district", text.district), ("address", text.address)) if v}
        body: dict[str, Any] = {"channel": channel, "external_id": self.external_id(m)}
        if channel == "web":
            body |= {"title": text.title, "content": text.content}
            if rng.random() < 0.85:
                body["citizen"] = {"phone": self.phone(citizen)}
        elif channel == "wechat":
            if rng.random() < 0.25:
                body |= {"msg_type": "voice", "recognition": text.content}
            else:
                body["content"] = text.content
            if text.title and rng.random() < 0.2:
                body["title"] = text.title
            body["citizen"] = {"wechat_openid": self.openid(citizen)}
        else:
            body["call"] = self._call(m, text, self.phone(citizen), rng)
            if rng.random() < 0.5:
                del body["external_id"]  # many call-centre systems only send their call id
            if text.title and rng.random() < 0.5:
                body["title"] = text.title  # the agent typed a summary
        if location and (channel == "web" or rng.random() < 0.5):
            body["location"] = location
        return body

    def _call(self, m: int, text: Text, caller: str, rng: random.Random) -> dict[str, Any]:
        """A transcribed call: agent greeting, the citizen's words in a few utterances, the address."""
        low = rng.random() < 0.03  # a noisy line: speech recognition unsure
        lo, hi = (0.35, 0.58) if low else (0.72, 0.99)
        pieces = [p for p in text.content.replace("。", "，").split("，") if p]
        cut = max(1, len(pieces) // rng.choice((1, 2, 3)))
        said = ["，".join(pieces[i : i + cut]) for i in range(0, len(pieces), cut)]
        # A long complaint is many utterances; no one utterance exceeds what a transcript segment may hold.
        said = [s[i : i + _UTTERANCE] for s in said for i in range(0, len(s), _UTTERANCE)]
        segments = [{"speaker": "agent", "text": _AGENT_OPENING, "confidence": 0.97}]
        segments += [
            {"speaker": "citizen", "text": s, "confidence": round(rng.uniform(lo, hi), 2)} for s in said
        ]
        if text.address:
            segments.append({"speaker": "agent", "text": _AGENT_WHERE, "confidence": 0.96})
            segments.append(
                {"speaker": "citizen", "text": text.address, "confidence": round(rng.uniform(lo, hi), 2)}
            )
        return {
            "call_id": self.external_id(m),
            "caller": caller,
            "duration_s": rng.randint(40, 600),
            "transcript": segments,
        }

    def body(self, m: int) -> bytes:
        """The exact bytes posted for message `m` (retries post the same bytes)."""
        if int(self.plan.msg_kind[m]) != Kind.INVALID:
            return orjson.dumps(self.payload(m))
        return self.broken(m)

    def invalid_form(self, m: int) -> str:
        """How invalid message `m` is broken."""
        rng = self._rng(m, "invalid")
        if rng.random() < 0.4:
            return INVALID_BY_CHANNEL[self.channel(m)]
        return rng.choice(INVALID_ANY)

    def broken(self, m: int) -> bytes:
        """Message `m`'s body broken in the way `invalid_form` names."""
        form, body = self.invalid_form(m), self.payload(m)
        if form == "malformed_json":
            return orjson.dumps(body)[:-7]
        if form == "empty_content":
            body["content"] = " \u3000 "
        elif form == "wechat_no_text":
            body.pop("content", None)
            body.pop("recognition", None)
        elif form == "phone_no_transcript":
            body["call"]["transcript"] = []
        elif form == "unknown_field":
            body["priority"] = "urgent"
        elif form == "unknown_channel":
            body["channel"] = "fax"
        elif form == "bad_external_id":
            body["external_id"] = f"{self.external_id(m)} with spaces"
        elif form == "bad_phone":
            body["citizen"] = {"phone": "12345"}
        return orjson.dumps(body)
