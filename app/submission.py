"""The submission service: the one place that decides whether a submission is accepted.

Every entry point — the JSON route, the batch route, the WeChat callback, Open311 and the fast lane — hands
its parsed submission and its authenticated adapter here. The service holds the acceptance rules in their
order: the Idempotency-Key's bound, the adapter's rate, its channel, the ticket number (deterministic when
keyed; a key is chosen for a keyless submission so that a retry after a 503 is the same ticket), the urgent
lane's screen, and the send to the bus, answered only on its acknowledgement. It answers with a `Receipt`
or raises a `SubmissionRefused` (app/refusals.py); rendering either is the entry point's business.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from app.auth import ANONYMOUS, Adapter, Guard
from app.deps import Resources
from app.intake import AcceptedRecord, build_record, publish, publish_many
from app.limits import FloodTracker, InvalidBudget
from app.metrics import REJECTIONS
from app.refusals import (
    ChannelRefused,
    InvalidSubmission,
    NotAcceptedYet,
    RateLimited,
    SubmissionRefused,
)
from ingest.bus import BusUnavailable
from ingest.schemas.submission import AnySubmission, external_id_of

# The longest Idempotency-Key taken, on every entry point (the JSON routes declare it in their OpenAPI too).
MAX_IDEMPOTENCY_KEY = 128
IDEMPOTENCY_HEADER = "idempotency-key"


@dataclass(frozen=True, slots=True)
class Receipt:
    """An accepted submission: the bus acknowledged its record."""

    ticket_id: str


@dataclass(slots=True)
class BatchReceipt:
    """Per item, in order, its receipt or why it was refused; and the key the gateway chose, if it did."""

    outcomes: list[Receipt | SubmissionRefused]
    # Set when some item had no key of its own and the bus failed some: a retry sending it back as the
    # Idempotency-Key gets the same tickets.
    chosen_key: str | None = None

    @property
    def accepted(self) -> int:
        """How many items were accepted."""
        return sum(isinstance(o, Receipt) for o in self.outcomes)


def refused(refusal: SubmissionRefused, count: int = 1) -> SubmissionRefused:
    """`refusal`, counted (every refusal is counted once, here)."""
    REJECTIONS.labels(reason=refusal.reason).inc(count)
    return refusal


def checked_key(idempotency_key: str | None) -> str | None:
    """The Idempotency-Key when within its bound; InvalidSubmission otherwise (never cut short: a shortened
    key would make two different submissions one ticket)."""
    if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        error = {
            "field": f"header.{IDEMPOTENCY_HEADER}",
            "message": f"String should have at most {MAX_IDEMPOTENCY_KEY} characters",
            "type": "string_too_long",
        }
        raise refused(InvalidSubmission([error]))
    return idempotency_key or None


def channel_refusal(adapter: Adapter, channel: str) -> ChannelRefused | None:
    """Why `adapter` may not submit on `channel`, or None when it may."""
    if adapter.channel is not None and adapter.channel != channel:
        why = f"the key of adapter {adapter.name!r} is for channel {adapter.channel!r}, not {channel!r}"
        return ChannelRefused(why)
    return None


def _retry_after(wait: float) -> int:
    return max(1, int(wait + 0.999))


class Intake:
    """Accepts submissions for one gateway process: its rate buckets, its budget of invalid input and its
    citizen flood tracker."""

    def __init__(self, guard: Guard, flood: FloodTracker, invalid: InvalidBudget | None = None) -> None:
        self.guard = guard
        self.flood = flood
        self.invalid_budget = invalid or InvalidBudget(0, 1)

    def _charge(self, adapter: Adapter, cost: int) -> None:
        if wait := self.invalid_budget.wait(adapter.name):
            why = f"adapter {adapter.name!r} sent too many invalid submissions; fix them before sending more"
            raise refused(RateLimited(why, _retry_after(wait)))
        wait = self.guard.charge(adapter, cost)
        if wait:
            raise refused(RateLimited(f"adapter {adapter.name!r} is over its rate limit", _retry_after(wait)))

    def invalid(self, adapter: Adapter | None, count: int = 1) -> None:
        """Count `count` invalid submissions against `adapter`'s budget (not the open gateway's anonymous
        caller: it stands for everyone)."""
        if adapter is not None and adapter is not ANONYMOUS:
            self.invalid_budget.spend(adapter.name, count)

    async def accept(
        self, resources: Resources, submission: AnySubmission, adapter: Adapter, idempotency_key: str | None
    ) -> Receipt:
        """Accept one submission once the bus acknowledged it; SubmissionRefused otherwise."""
        key = checked_key(idempotency_key)
        self._charge(adapter, 1)
        if (refusal := channel_refusal(adapter, submission.channel)) is not None:
            raise refused(refusal)
        settings = resources.settings
        # Without any key a late-acknowledged record and its retry would be two tickets: choose a key now, and
        # hand it back with the refusal for the retry to send.
        chosen = None if key or external_id_of(submission) else uuid.uuid4().hex
        try:
            record = build_record(submission, key or chosen, settings.ticket_secret, self.flood)
        except InvalidSubmission as exc:
            self.invalid(adapter)
            raise refused(exc) from None
        try:
            await publish(record, resources)
        except BusUnavailable as exc:
            raise refused(NotAcceptedYet(str(exc), settings.retry_after_s, chosen)) from exc
        return Receipt(record.ticket_id)

    async def accept_many(
        self,
        resources: Resources,
        items: Sequence[AnySubmission | InvalidSubmission],
        adapter: Adapter,
        idempotency_key: str | None,
    ) -> BatchReceipt:
        """Accept each valid item once the bus acknowledged it, sent together; an outcome per item.

        The adapter is charged one submission per item. Item *i* without an external_id is keyed `<key>:<i>`
        by the Idempotency-Key, or without one by a key the gateway chooses (handed back when the bus did not
        acknowledge every item). NotAcceptedYet when the bus acknowledged none (the whole batch is to be
        retried).
        """
        key = checked_key(idempotency_key)
        self._charge(adapter, len(items))
        self.invalid(adapter, sum(isinstance(item, InvalidSubmission) for item in items))
        settings = resources.settings
        keyless = key is None and any(
            not isinstance(item, InvalidSubmission) and not external_id_of(item) for item in items
        )
        chosen = uuid.uuid4().hex if keyless else None
        outcomes: list[Receipt | SubmissionRefused] = []
        records: dict[str, AcceptedRecord] = {}
        keyed_by_chosen: set[str] = set()
        for index, item in enumerate(items):
            if isinstance(item, InvalidSubmission):
                outcomes.append(refused(item))
                continue
            if (refusal := channel_refusal(adapter, item.channel)) is not None:
                outcomes.append(refused(refusal))
                continue
            # An item's own external_id keys it; the batch's key (given or chosen) keys the others by index,
            # so a retry with the chosen key cannot re-key an item that was already accepted.
            item_key = None if external_id_of(item) else key or chosen
            try:
                record = build_record(
                    item,
                    f"{item_key}:{index}" if item_key else None,
                    settings.ticket_secret,
                    self.flood,
                    ("items", index),
                )
            except InvalidSubmission as exc:
                self.invalid(adapter)
                outcomes.append(refused(exc))
                continue
            if item_key is not None and item_key == chosen:
                keyed_by_chosen.add(record.ticket_id)
            # The same ticket twice in one batch (a duplicated item) is sent once.
            record = records.setdefault(record.ticket_id, record)
            outcomes.append(Receipt(record.ticket_id))
        unique = list(records.values())
        # One send for all the valid items; each is still accepted only on its own acknowledgement.
        sent = await publish_many(unique, resources)
        failed = {r.ticket_id: str(o) for r, o in zip(unique, sent, strict=True) if o is not None}
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, Receipt) and outcome.ticket_id in failed:
                ticket = outcome.ticket_id
                retry_key = chosen if ticket in keyed_by_chosen else None
                outcomes[index] = refused(NotAcceptedYet(failed[ticket], settings.retry_after_s, retry_key))
        if failed and all(isinstance(o, NotAcceptedYet) for o in outcomes):
            # The items were counted one by one; the batch as a whole is to be retried, with the chosen key.
            raise NotAcceptedYet(next(iter(failed.values())), settings.retry_after_s, chosen)
        return BatchReceipt(outcomes, chosen if failed else None)
