"""The plan of a run: every request's intended send time, channel and kind, fixed before the first is sent.

A *message* is one thing a citizen sends (an everyday complaint, a burst report, an invalid submission, or a
resubmission of an earlier complaint under a new external id). A small share of the everyday complaints are
*labelled*: they carry the words, channel and label of a hand-labelled urgency corpus message (urgent, or a
hard negative that only looks urgent), so the run can score the urgent lane against known answers.
A *request* is one HTTP POST: every message once, plus the client retries, which repeat an earlier message
byte for byte (same `external_id`).
Times are wall-clock seconds from the start of the run (the profile's day divided by the compression).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from loadtest import curve
from loadtest.texts import URGENT_LEVELS, Labelled, UrgencyCorpus

NORMAL_DAY_MESSAGES = 200_000
SURGE_DAY_MESSAGES = 1_200_000
SURGE_BURST_MESSAGES = 12_000
BURST_WINDOW_S = 30 * 60.0
BURST_TAU_S = 4 * 60.0  # reports peak four minutes in and are mostly in by a quarter hour
CHANNELS: tuple[str, ...] = ("wechat", "phone", "web")
DEFAULT_MIX: tuple[float, ...] = (0.55, 0.30, 0.15)
PROFILES = ("normal-day", "surge-day", "constant")
# A resubmission refers to a complaint the same citizen sent at most this long before (profile day time).
RESUBMIT_WINDOW_S = 6 * 3600.0
# Share of retries sent almost at once (a client that gave up on its connection and re-sent), racing the
# original through the gateway; the rest come after a timeout-like pause of up to `retry_delay_s`.
RACING_RETRY_SHARE = 0.3
# The labelled messages draw from their own random stream, so mixing them in leaves every other choice of a
# seed's plan (times, kinds, retries) as it was without them.
_LABEL_STREAM = 15


class Kind(IntEnum):
    """What a request is, as the generator's ground truth."""

    ORIGINAL = 0
    BURST = 1
    INVALID = 2
    RESUBMIT = 3
    RETRY = 4


@dataclass(frozen=True)
class PlanSpec:
    """What to generate: profile, size, time compression, mix and shares."""

    profile: str = "constant"
    messages: int | None = None  # default: the profile's daily total × scale (constant: rate × duration)
    scale: float = 1.0
    compression: float = 1.0  # profile seconds per wall second (1440 / replay minutes)
    rate: float = 50.0  # constant profile: messages per second
    constant_duration_s: float = 60.0
    channel_mix: tuple[float, ...] = DEFAULT_MIX
    retry_share: float = 0.03
    resubmit_share: float = 0.02
    invalid_share: float = 0.01
    # Share of the messages that are labelled urgent corpus messages; the same share again are its hard
    # negatives. Applied to the burst's half hour and to the rest of the day separately (see `_label`).
    urgent_share: float = 0.005
    burst_messages: int | None = None  # surge-day: default SURGE_BURST_MESSAGES × scale
    burst_at_s: float = 19.5 * 3600  # surge-day: the burst starts at 19:30 (profile day time)
    retry_delay_s: float = 2.0  # wall-clock seconds, the longest pause before a retry
    window: tuple[float, float] = (0.0, float(curve.DAY_S))  # day profiles: replay only this part of the day
    seed: int = 12345

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r} (known: {', '.join(PROFILES)})")
        if len(self.channel_mix) != len(CHANNELS) or min(self.channel_mix) < 0 or sum(self.channel_mix) <= 0:
            raise ValueError("channel mix needs three non-negative weights: wechat, phone, web")
        for name in ("retry_share", "resubmit_share", "invalid_share", "urgent_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.resubmit_share + self.invalid_share > 1.0:
            raise ValueError("resubmit_share + invalid_share must not exceed 1")
        if self.scale <= 0 or self.compression <= 0 or self.rate <= 0:
            raise ValueError("scale, compression and rate must be positive")
        if not 0 <= self.window[0] < self.window[1] <= curve.DAY_S:
            raise ValueError("the window must be a non-empty part of the day")


@dataclass
class Plan:
    """Messages and requests, both sorted by intended send time; arrays index by message / request."""

    spec: PlanSpec
    msg_at: NDArray[np.float64]
    msg_kind: NDArray[np.int8]
    msg_channel: NDArray[np.int8]
    msg_ref: NDArray[np.int64]  # for a resubmission: the message it repeats; else -1
    at: NDArray[np.float64]
    kind: NDArray[np.int8]
    msg: NDArray[np.int64]  # the message each request sends
    burst_window: tuple[float, float] | None = None  # wall seconds
    notes: list[str] = field(default_factory=list)
    labels: tuple[Labelled, ...] = ()  # the corpus messages labelled messages are drawn from
    # For each message, the index in `labels` of the corpus message it carries; -1 for an unlabelled one.
    msg_label: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    # Day profiles: stretches of minutes of the day, [first, end), that the scale left without a message.
    empty_minutes: list[tuple[int, int]] = field(default_factory=list)

    def label_of(self, m: int) -> Labelled | None:
        """The corpus message (with its label) that message `m` carries, if it is a labelled one."""
        i = int(self.msg_label[m]) if len(self.msg_label) else -1
        return self.labels[i] if i >= 0 else None

    def labelled_messages(self) -> NDArray[np.int64]:
        """The numbers of the labelled messages, in send order."""
        return np.flatnonzero(self.msg_label >= 0).astype(np.int64)

    @property
    def messages(self) -> int:
        """Number of messages."""
        return len(self.msg_at)

    @property
    def requests(self) -> int:
        """Number of requests (messages + retries)."""
        return len(self.at)

    @property
    def span_s(self) -> float:
        """Wall seconds from the start to the last intended send."""
        return float(self.at[-1]) if len(self.at) else 0.0

    def channel_of(self, request: int) -> str:
        """Channel name of request `request`."""
        return CHANNELS[int(self.msg_channel[self.msg[request]])]

    def ground_truth(self) -> dict[str, object]:
        """What was generated, to reconcile the pipeline's figures against."""
        kinds = {k.name.lower(): int((self.kind == k).sum()) for k in Kind}
        channels = {name: int((self.msg_channel[self.msg] == i).sum()) for i, name in enumerate(CHANNELS)}
        valid = int((self.msg_kind != Kind.INVALID).sum())
        return {
            "messages": self.messages,
            "requests": self.requests,
            "by_kind": kinds,
            "by_channel": channels,
            "expected_tickets": valid,
            "span_s": round(self.span_s, 3),
            "compression": self.spec.compression,
            "burst_window_s": list(self.burst_window) if self.burst_window else None,
            "labelled": self.labelled_counts(),
            "minutes_without_arrivals": sum(end - first for first, end in self.empty_minutes),
            "empty_stretches": [f"{_clock(first)}-{_clock(end)}" for first, end in self.empty_minutes],
        }

    def labelled_counts(self) -> dict[str, int]:
        """How many labelled messages of each level, and how many fall in the burst's half hour."""
        counts = dict.fromkeys((*URGENT_LEVELS, "hard_negative", "in_burst_window"), 0)
        for m in self.labelled_messages().tolist():
            label = self.labels[int(self.msg_label[m])]
            counts[label.level if label.urgent else "hard_negative"] += 1
            counts["in_burst_window"] += self.in_burst_window(float(self.msg_at[m]))
        return counts

    def in_burst_window(self, at: float) -> bool:
        """Whether wall time `at` falls within the incident burst's half hour."""
        return self.burst_window is not None and self.burst_window[0] <= at < self.burst_window[1]


def _clock(minute: int) -> str:
    """A minute of the day as HH:MM (24:00 for the day's end)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def default_messages(spec: PlanSpec) -> int:
    """How many messages the spec asks for."""
    if spec.messages is not None:
        return spec.messages
    if spec.profile == "normal-day":
        return round(NORMAL_DAY_MESSAGES * spec.scale)
    if spec.profile == "surge-day":
        return round(SURGE_DAY_MESSAGES * spec.scale)
    return round(spec.rate * spec.constant_duration_s * spec.scale)


def _burst_size(spec: PlanSpec, total: int) -> int:
    """How many of the `total` messages are the surge day's incident burst."""
    if spec.profile != "surge-day":
        return 0
    default_burst = round(SURGE_BURST_MESSAGES * spec.scale)
    return min(total, spec.burst_messages if spec.burst_messages is not None else default_burst)


def _message_times(spec: PlanSpec, total: int, rng: np.random.Generator) -> tuple[NDArray[np.float64], int]:
    """Profile-time arrival of every message (sorted) and how many of them are the burst (placed first)."""
    if spec.profile == "constant":
        return np.arange(total, dtype=np.float64) / spec.rate, 0
    burst = _burst_size(spec, total)
    base = curve.day_offsets(total - burst, rng)
    burst_at = spec.burst_at_s + curve.burst_offsets(burst, BURST_WINDOW_S, BURST_TAU_S, rng)
    return np.concatenate((burst_at, base)), burst


def _choose(rng: np.random.Generator, pool: NDArray[np.int64], share: float) -> NDArray[np.int64]:
    return _pick(rng, pool, round(share * len(pool)))


def _pick(rng: np.random.Generator, pool: NDArray[np.int64], count: int) -> NDArray[np.int64]:
    """`count` distinct members of `pool` (all of it when it is smaller), sorted."""
    count = min(len(pool), count)
    return np.sort(rng.choice(pool, size=count, replace=False)) if count else pool[:0].astype(np.int64)


def build_plan(spec: PlanSpec, urgency: UrgencyCorpus | None = None) -> Plan:
    """Generate the plan of `spec`; the same spec (and seed, and corpus) always gives the same plan.

    With an urgency corpus, `spec.urgent_share` of the messages carry its urgent messages and as many its
    hard negatives; without one there are no labelled messages (and the plan's notes say so)."""
    rng = np.random.default_rng(spec.seed)
    total = default_messages(spec)
    times, burst = _message_times(spec, total, rng)
    kinds = np.full(total, Kind.ORIGINAL, dtype=np.int8)
    kinds[:burst] = Kind.BURST
    start = 0.0
    if spec.profile != "constant" and spec.window != (0.0, float(curve.DAY_S)):
        start, end = spec.window
        keep = (times >= start) & (times < end)
        times, kinds = times[keep] - start, kinds[keep]
        total, burst = len(times), int((kinds == Kind.BURST).sum())
    order = np.argsort(times, kind="stable")
    msg_at = times[order] / spec.compression
    msg_kind = kinds[order]
    mix = np.asarray(spec.channel_mix, dtype=np.float64)
    msg_channel = rng.choice(len(CHANNELS), size=total, p=mix / mix.sum()).astype(np.int8)

    everyday = np.flatnonzero(msg_kind == Kind.ORIGINAL).astype(np.int64)
    invalid = _choose(rng, everyday, spec.invalid_share)
    msg_kind[invalid] = Kind.INVALID
    remaining = np.flatnonzero(msg_kind == Kind.ORIGINAL).astype(np.int64)
    resubmits = _choose(rng, remaining, spec.resubmit_share * len(everyday) / max(len(remaining), 1))
    msg_kind[resubmits] = Kind.RESUBMIT
    msg_ref = _link_resubmissions(spec, msg_at, msg_kind, resubmits, rng)

    valid = np.flatnonzero(msg_kind != Kind.INVALID).astype(np.int64)
    retried = _choose(rng, valid, spec.retry_share)
    delays = rng.random(len(retried)) * spec.retry_delay_s
    racing = rng.random(len(retried)) < RACING_RETRY_SHARE
    delays[racing] *= 0.02
    # A retry never comes after the plan's last message, so the planned span (and --duration) stays exact.
    last = float(msg_at[-1]) if total else 0.0
    req_at = np.concatenate((msg_at, np.minimum(msg_at[retried] + delays, last)))
    req_msg = np.concatenate((np.arange(total, dtype=np.int64), retried))
    req_kind = np.concatenate((msg_kind, np.full(len(retried), Kind.RETRY, dtype=np.int8)))
    req_order = np.argsort(req_at, kind="stable")
    window = None
    if burst:
        begins = max(0.0, spec.burst_at_s - start) / spec.compression
        window = (begins, (spec.burst_at_s - start + BURST_WINDOW_S) / spec.compression)
    plan = Plan(
        spec=spec,
        msg_at=msg_at,
        msg_kind=msg_kind,
        msg_channel=msg_channel,
        msg_ref=msg_ref,
        at=req_at[req_order],
        kind=req_kind[req_order],
        msg=req_msg[req_order],
        burst_window=window,
        msg_label=np.full(total, -1, dtype=np.int32),
    )
    if spec.profile != "constant":
        everyday_total = default_messages(spec) - _burst_size(spec, default_messages(spec))
        plan.empty_minutes = curve.empty_stretches(everyday_total, spec.window)
    if spec.urgent_share > 0:
        if urgency:
            _label(plan, urgency)
        else:
            plan.notes.append("no urgency corpus (corpus/urgency/*.jsonl): no labelled urgent messages")
    return plan


def _label_counts(plan: Plan) -> tuple[NDArray[np.bool_], int, int]:
    """Which messages fall in the burst's half hour, and how many labelled messages of one kind (urgent or
    hard negative) go inside it and outside it: `urgent_share` of each part's messages. Inside, at least one
    when the share is not 0, so even a small run measures the lane while the burst floods the pipeline."""
    inside = np.zeros(plan.messages, dtype=np.bool_)
    if plan.burst_window is not None:
        inside = (plan.msg_at >= plan.burst_window[0]) & (plan.msg_at < plan.burst_window[1])
    n_in, share = int(inside.sum()), plan.spec.urgent_share
    return inside, max(1, round(share * n_in)) if n_in else 0, round(share * (plan.messages - n_in))


def _cycle(rng: np.random.Generator, lines: int, count: int) -> NDArray[np.int64]:
    """`count` line numbers of a corpus of `lines`: every line once before any twice (a full-size day needs
    more labelled messages than the corpus holds)."""
    if not lines or not count:
        return np.zeros(0, dtype=np.int64)
    rounds = -(-count // lines)
    return np.concatenate([rng.permutation(lines) for _ in range(rounds)])[:count].astype(np.int64)


def _label(plan: Plan, corpus: UrgencyCorpus) -> None:
    """Turn a share of the everyday complaints into labelled corpus messages, posted on the corpus line's
    channel. Only everyday complaints that no resubmission repeats: a labelled message must reach the
    pipeline valid, and an unlabelled copy of its words would be counted as ordinary traffic."""
    rng = np.random.default_rng([plan.spec.seed, _LABEL_STREAM])
    free = plan.msg_kind == Kind.ORIGINAL
    free[plan.msg_ref[plan.msg_ref >= 0]] = False
    inside, count_in, count_out = _label_counts(plan)
    plan.labels = corpus.urgent + corpus.hard_negatives
    offset = 0
    for pool in (corpus.urgent, corpus.hard_negatives):
        if pool:
            parts = ((inside, count_in), (~inside, count_out))
            chosen = np.concatenate([_pick(rng, np.flatnonzero(free & part), n) for part, n in parts])
            plan.msg_label[chosen] = offset + _cycle(rng, len(pool), len(chosen))
            free[chosen] = False
        offset += len(pool)
    for m in plan.labelled_messages().tolist():
        channel = plan.labels[int(plan.msg_label[m])].channel
        if channel in CHANNELS:  # where the corpus names one of ours; else the mix's draw stands
            plan.msg_channel[m] = CHANNELS.index(channel)


def _link_resubmissions(
    spec: PlanSpec,
    msg_at: NDArray[np.float64],
    msg_kind: NDArray[np.int8],
    resubmits: NDArray[np.int64],
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """Point every resubmission at an earlier everyday complaint within the window; demote those with none."""
    ref = np.full(len(msg_at), -1, dtype=np.int64)
    originals = np.flatnonzero(msg_kind == Kind.ORIGINAL).astype(np.int64)
    window = RESUBMIT_WINDOW_S / spec.compression
    for i in resubmits.tolist():
        hi = int(np.searchsorted(originals, i))
        lo = int(np.searchsorted(msg_at[originals], msg_at[i] - window))
        if lo < hi:
            ref[i] = originals[int(rng.integers(lo, hi))]
        else:
            msg_kind[i] = Kind.ORIGINAL
    return ref
