"""Resubmissions: the same citizen sending the same or nearly the same text again within a window.

Two ways to recognise one:
- the citizen's own earlier messages (one citizen key: the same phone or WeChat account), compared by their
  character 3-grams;
- through another channel the key differs (a WeChat openid, then a phone call), so a message that says it is
  a repeat ("再次反映：", "我之前反映过，") is also looked up by its words: the first words of its content,
  normalised, as a 64-bit `content_key` that every stored ticket carries.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

# Char 3-gram Jaccard of the normalised texts; a resubmission typically edits a title word or appends
# "急需处理！" (gold sample: 0.93), while two different messages of one citizen about one problem score < 0.5.
RESUBMISSION_JACCARD = 0.8
SHINGLE = 3
_NOISE = re.compile(r"[\W_]+")


# A message that says it repeats an earlier one: at its start, after a greeting or a filler.
_REPEAT_MARKER = re.compile(
    r"^(?:喂|您好|你好|那个|呃|嗯|就是|我|[\W_])*"
    r"(?:"
    r"(?:再次|又一次|再一次|第[二三四五六2-6]次|重复|多次)(?:来电)?(?:反映|投诉|举报|反应|来电)"
    r"|(?:之前|上次|前几天|前两天|昨天|上周|上个月|早上|刚才)(?:已经|也|就)?(?:打过电话|打电话|来电|来过电话)?"
    r"(?:反映|投诉|举报|反应)过?(?:的问题|的事情?|这个问题|这个事)?"
    r"(?:还是|还|到现在|至今|一直|都)*(?:没有?|未)?(?:人管|解决|处理|回复|答复|结果)?了?"
    r")[\W_]*"
)
# How many normalised characters of the content make its key. The key only narrows the candidates (a match
# must still contain the repeat's words), so it may be short: short enough that what a caller adds at the end
# of a short complaint (the address) is left out of it.
CONTENT_KEY_CHARS = 24
# Below this many characters (after the marker) the words are too common to identify one message.
CONTENT_KEY_MIN_CHARS = 16


def says_repeat(content: str) -> bool:
    """Whether the content opens by saying it reports something again."""
    return _REPEAT_MARKER.match(unicodedata.normalize("NFKC", content)) is not None


def without_marker(content: str) -> str:
    """The content (NFKC) after its repeat marker, if it opens with one."""
    text = unicodedata.normalize("NFKC", content)
    marker = _REPEAT_MARKER.match(text)
    return text[marker.end() :] if marker is not None else text


def content_key(content: str) -> int | None:
    """A 64-bit key of the content's first words, the repeat marker left out; None when too short.

    The same for "再次反映：" + a text, that text sent before, and the text read out on a call (punctuation,
    spaces and case are left out).
    """
    words = _NOISE.sub("", without_marker(content)).lower()[:CONTENT_KEY_CHARS]
    if len(words) < CONTENT_KEY_MIN_CHARS:
        return None
    return int.from_bytes(hashlib.blake2b(words.encode(), digest_size=8).digest(), "big", signed=True)


def shingles(text: str) -> frozenset[str]:
    """Character 3-grams of text with punctuation and spaces removed."""
    t = _NOISE.sub("", text).lower()
    if len(t) < SHINGLE:
        return frozenset({t}) if t else frozenset()
    return frozenset(t[i : i + SHINGLE] for i in range(len(t) - SHINGLE + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two sets (0 for two empty sets)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def containment(a: frozenset[str], b: frozenset[str]) -> float:
    """The share of the smaller set inside the other: a text with words added (an address read out at the end
    of a call, "再次反映：" in front) still contains the one it repeats (0 for an empty set)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def is_resubmission(text_a: str, text_b: str, threshold: float = RESUBMISSION_JACCARD) -> bool:
    """Whether two texts are the same message sent again (identical or nearly so)."""
    return jaccard(shingles(text_a), shingles(text_b)) >= threshold


@dataclass(frozen=True)
class PriorMessage:
    """An earlier, original (not itself a resubmission) message of a citizen."""

    id: str
    text: str
    submitted_at: datetime
    incident_id: str | None
    citizen: str | None = None


class ResubmissionStore(Protocol):
    """Recent original messages per citizen and per content key; in Postgres, queries on `tickets`."""

    def recent(self, citizen: str, since: datetime) -> Sequence[PriorMessage]:
        """The citizen's original messages submitted at or after `since`, oldest first."""
        ...

    def same_content(self, key: int, since: datetime) -> Sequence[PriorMessage]:
        """Original messages with this content key submitted at or after `since`, oldest first."""
        ...

    def remember(self, citizen: str | None, message: PriorMessage, key: int | None = None) -> None:
        """Record an original message."""
        ...

    def waiting(self, key: int, since: datetime) -> Sequence[PriorMessage]:
        """Messages with this content key that say they repeat an earlier one and found none, submitted at or
        after `since`, oldest first."""
        ...

    def wait(self, message: PriorMessage, key: int) -> None:
        """Record a message that says it repeats an earlier one and found none (yet)."""
        ...

    def found(self, message_id: str) -> None:
        """A waiting message's original came: it waits no more."""
        ...


class InMemoryResubmissionStore:
    """Per-citizen and per-content-key lists of original messages, in submission order."""

    def __init__(self) -> None:
        self._by_citizen: dict[str, list[PriorMessage]] = {}
        self._by_content: dict[int, list[PriorMessage]] = {}
        self._waiting: dict[int, list[PriorMessage]] = {}

    def recent(self, citizen: str, since: datetime) -> Sequence[PriorMessage]:
        """The citizen's original messages submitted at or after `since`, oldest first."""
        return [m for m in self._by_citizen.get(citizen, ()) if m.submitted_at >= since]

    def same_content(self, key: int, since: datetime) -> Sequence[PriorMessage]:
        """Original messages with this content key submitted at or after `since`, oldest first."""
        return [m for m in self._by_content.get(key, ()) if m.submitted_at >= since]

    def remember(self, citizen: str | None, message: PriorMessage, key: int | None = None) -> None:
        """Record an original message (callers give them in submission order)."""
        if citizen:
            self._by_citizen.setdefault(citizen, []).append(message)
        if key is not None:
            self._by_content.setdefault(key, []).append(message)

    def waiting(self, key: int, since: datetime) -> Sequence[PriorMessage]:
        """Waiting repeats with this content key submitted at or after `since`, oldest first."""
        return [m for m in self._waiting.get(key, ()) if m.submitted_at >= since]

    def wait(self, message: PriorMessage, key: int) -> None:
        """Record a repeat that found no original."""
        self._waiting.setdefault(key, []).append(message)

    def found(self, message_id: str) -> None:
        """Stop waiting for the original of `message_id`."""
        for key, messages in list(self._waiting.items()):
            kept = [m for m in messages if m.id != message_id]
            if len(kept) != len(messages):
                self._waiting[key] = kept


class ResubmissionDetector:
    """Links a message to the citizen's first near-identical message within the window."""

    def __init__(
        self, store: ResubmissionStore, window: timedelta, threshold: float = RESUBMISSION_JACCARD
    ) -> None:
        self.store = store
        self.window = window
        self.threshold = threshold

    def find_original(
        self, citizen: str | None, text: str, at: datetime, content: str | None = None
    ) -> PriorMessage | None:
        """The earliest earlier message this text resubmits: the citizen's own near-identical one, else, when
        `content` says it is a repeat, the first message with the same content key (another channel)."""
        since = at - self.window
        if citizen:
            mine = shingles(text)
            for prior in self.store.recent(citizen, since):
                if prior.submitted_at <= at and jaccard(mine, shingles(prior.text)) >= self.threshold:
                    return prior
        if content is not None and says_repeat(content) and (key := content_key(content)) is not None:
            mine = shingles(without_marker(content))
            matches = [
                prior
                for prior in self.store.same_content(key, since)
                if prior.submitted_at <= at and containment(mine, shingles(prior.text)) >= self.threshold
            ]
            # Several originals in the same words: the citizen's own if there is one; otherwise which one is
            # repeated cannot be told, and a wrong link hides a complaint, so none is chosen.
            own = [prior for prior in matches if citizen and prior.citizen == citizen]
            if len(matches) == 1 or len(own) == 1:
                return own[0] if own else matches[0]
        return None

    def remember(self, citizen: str | None, message: PriorMessage, content: str | None = None) -> None:
        """Record an original message (resubmissions are not recorded: later ones link to the first). One
        that says it repeats an earlier one is an original until that one comes: it also waits for it."""
        key = content_key(content) if content is not None else None
        if citizen or key is not None:
            self.store.remember(citizen, message, key)
        if key is not None and content is not None and says_repeat(content):
            self.store.wait(message, key)

    def find_repeats(self, text: str, content: str, at: datetime) -> list[PriorMessage]:
        """The waiting repeats that this original, grouped after them, is the one they repeat: sent later
        (within the window), their words containing its words, and no other original known to match them
        (the rule of `find_original`, applied when the original comes last: a repeat sent through another
        channel is on another partition, which may be ahead of this one's)."""
        if says_repeat(content) or (key := content_key(content)) is None:
            return []
        mine = shingles(text)
        found: list[PriorMessage] = []
        for repeat in self.store.waiting(key, at):
            if repeat.submitted_at - at > self.window:
                continue
            theirs = shingles(without_marker(repeat.text.partition("\n")[2]))
            if containment(theirs, mine) < self.threshold:
                continue
            others = [
                prior
                for prior in self.store.same_content(key, repeat.submitted_at - self.window)
                if prior.id != repeat.id
                and prior.submitted_at <= repeat.submitted_at
                and not says_repeat(prior.text.partition("\n")[2])
                and containment(theirs, shingles(prior.text)) >= self.threshold
            ]
            # Another original in the same words: which one is repeated cannot be told; no link.
            if not others:
                found.append(repeat)
        for repeat in found:
            self.store.found(repeat.id)
        return found
