"""What came back: every request's outcome, folded into counts, histograms, series and the ticket ids."""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass

from loadtest.plan import CHANNELS, Kind, Plan
from loadtest.stats import BucketLatency, Counter, Latency

OUTCOMES = ("accepted", "rejected_4xx", "errors_5xx", "timeouts", "transport_errors")
_MAX_ERROR_SAMPLES = 20


@dataclass(frozen=True)
class Reply:
    """What one request got: an HTTP status and ticket id, or an error kind (`timeout`, `transport`)."""

    status: int | None
    ticket_id: str | None = None
    error: str | None = None

    @property
    def outcome(self) -> str:
        """One of OUTCOMES."""
        if self.status is None:
            return "timeouts" if self.error == "timeout" else "transport_errors"
        if 200 <= self.status < 300:
            return "accepted"
        if 400 <= self.status < 500:
            return "rejected_4xx"
        return "errors_5xx"


class Recorder:
    """Accumulates outcomes of a run; times are seconds from the run's start on the monotonic clock."""

    def __init__(self, plan: Plan, bucket_s: float) -> None:
        self.plan = plan
        self.bucket_s = bucket_s
        self.latency = Latency()  # from the intended send time (corrected for coordinated omission)
        self.service = Latency()  # from the actual send time (what a closed-loop tool would report)
        self.queue_wait = Latency()  # actual − intended send time: time spent in the client's backlog
        self.dispatch_lag = Latency()  # how late the dispatcher itself released requests
        self.by_channel = {ch: Latency() for ch in CHANNELS}
        self.bucket_latency = BucketLatency()
        self.bucket_latency_by_channel = {ch: BucketLatency() for ch in CHANNELS}
        self.sent_series = Counter()
        self.outcome_series = {name: Counter() for name in OUTCOMES}
        self.invalid_refused_series = Counter()  # the 4xx the plan asked for: invalid submissions refused
        self.accepted_by_channel = {ch: Counter() for ch in CHANNELS}
        self.errors_by_channel = {ch: Counter() for ch in CHANNELS}
        self.not_sent_series = Counter()
        self.backlog_series: dict[int, int] = {}
        self.in_flight_series: dict[int, int] = {}
        self.status_codes: Tally[str] = Tally()
        self.outcomes: Tally[str] = Tally()
        self.outcomes_by_kind: dict[str, Tally[str]] = {k.name.lower(): Tally() for k in Kind}
        self.not_sent = 0
        self.not_sent_reasons: Tally[str] = Tally()
        self.sent = 0
        self.error_samples: Tally[str] = Tally()
        # Ticket id of each message's first 202, and what each retry got, for reconciliation.
        self.message_ticket: list[str | None] = [None] * plan.messages
        self.retry_tickets: list[tuple[int, str]] = []
        # For each labelled message, its first accepted request: (actual send time, ticket id). A set for
        # the check, as it runs on every accepted reply.
        self.labelled = set(plan.labelled_messages().tolist())
        self.labelled_sent: dict[int, tuple[float, str]] = {}
        self.first_intended: float | None = None
        self.last_done = 0.0

    def bucket(self, t: float) -> int:
        """Index of the time bucket holding `t`."""
        return max(0, int(t // self.bucket_s))

    def on_sent(self, sent: float, intended: float) -> None:
        """A request left the client at `sent` (it was due at `intended`)."""
        self.sent += 1
        self.sent_series.add(self.bucket(sent))
        self.queue_wait.record(sent - intended)

    def on_not_sent(self, request: int, intended: float, reason: str) -> None:
        """A request was never sent: the backlog was full, or a bound (duration, count, deadline) cut it."""
        self.not_sent += 1
        self.not_sent_reasons[reason] += 1
        self.not_sent_series.add(self.bucket(intended))
        self.outcomes_by_kind[Kind(int(self.plan.kind[request])).name.lower()]["not_sent"] += 1

    def on_gauges(self, t: float, backlog: int, in_flight: int) -> None:
        """Sample the client's backlog and in-flight count (the maximum per bucket is kept)."""
        b = self.bucket(t)
        self.backlog_series[b] = max(self.backlog_series.get(b, 0), backlog)
        self.in_flight_series[b] = max(self.in_flight_series.get(b, 0), in_flight)

    def on_reply(self, request: int, intended: float, sent: float, done: float, reply: Reply) -> None:
        """Fold one request's reply into the figures."""
        outcome = reply.outcome
        channel = self.plan.channel_of(request)
        kind = Kind(int(self.plan.kind[request]))
        self.first_intended = intended if self.first_intended is None else min(self.first_intended, intended)
        self.last_done = max(self.last_done, done)
        self.outcomes[outcome] += 1
        self.outcomes_by_kind[kind.name.lower()][outcome] += 1
        if reply.status == 429:
            self.outcomes_by_kind[kind.name.lower()]["throttled_429"] += 1
        self.status_codes[str(reply.status) if reply.status is not None else (reply.error or "error")] += 1
        self.outcome_series[outcome].add(self.bucket(done))
        if kind == Kind.INVALID and outcome == "rejected_4xx":
            self.invalid_refused_series.add(self.bucket(done))
        # Every sent request counts, failures at the time they took to fail: leaving them out would hide
        # exactly the slowest experiences.
        self.latency.record(done - intended)
        self.service.record(done - sent)
        self.by_channel[channel].record(done - intended)
        self.bucket_latency.record(self.bucket(intended), done - intended)
        self.bucket_latency_by_channel[channel].record(self.bucket(intended), done - intended)
        if outcome == "accepted":
            self.accepted_by_channel[channel].add(self.bucket(done))
        else:
            self.errors_by_channel[channel].add(self.bucket(done))
            if reply.error and len(self.error_samples) < _MAX_ERROR_SAMPLES:
                self.error_samples[reply.error] += 1
        if outcome == "accepted" and reply.ticket_id:
            msg = int(self.plan.msg[request])
            if msg in self.labelled and msg not in self.labelled_sent:
                self.labelled_sent[msg] = (sent, reply.ticket_id)
            if kind == Kind.RETRY:
                self.retry_tickets.append((msg, reply.ticket_id))
            elif self.message_ticket[msg] is None:
                self.message_ticket[msg] = reply.ticket_id

    def accepted_ids(self) -> set[str]:
        """Every distinct ticket id answered with 202, originals and retries alike."""
        ids = {t for t in self.message_ticket if t is not None}
        ids.update(t for _, t in self.retry_tickets)
        return ids
