"""Why a submission was not accepted, in the domain's terms: no HTTP status, no response format.

The submission service (app/submission.py) raises these; each entry point's adapter renders them in its
own format: problem details for the JSON API (app/problems.py, the one HTTP mapping), GeoReport errors for
Open311.
Each is counted once, by the service, under its `reason`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from pydantic_core import ErrorDetails

FieldErrors = list[dict[str, str]]


class SubmissionRefused(Exception):
    """A submission the gateway did not accept; `detail` says why, for the submitter."""

    reason: ClassVar[str] = "refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidSubmission(SubmissionRefused):
    """The submission (or a header that goes with it) is not valid; `errors` names the failing fields."""

    reason = "validation"

    def __init__(self, errors: FieldErrors) -> None:
        super().__init__(summary(errors))
        self.errors = errors


class ChannelRefused(SubmissionRefused):
    """The adapter's key may not submit on the submission's channel."""

    reason = "wrong_channel"


class RateLimited(SubmissionRefused):
    """The caller is over its rate; it may retry after `retry_after_s`."""

    reason = "rate_limited"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class NotAcceptedYet(SubmissionRefused):
    """The bus did not acknowledge in time: not accepted *yet*.

    The record may still reach the bus later, so a retry must be recognisable as the same submission: with an
    external_id it is; without one `idempotency_key` is the key the gateway chose, for the retry to send.
    """

    reason = "bus_unavailable"

    def __init__(self, why: str, retry_after_s: int, idempotency_key: str | None = None) -> None:
        if idempotency_key is None:
            detail = f"not accepted: {why}; retry later with the same external_id"
        else:
            detail = f"not accepted: {why}; retry later with the header Idempotency-Key: {idempotency_key}"
        super().__init__(detail)
        self.why = why
        self.retry_after_s = retry_after_s
        self.idempotency_key = idempotency_key


def error_fields(errors: Iterable[ErrorDetails], prefix: Sequence[str | int] = ()) -> FieldErrors:
    """Pydantic errors as `{field, message, type}`, the field a dotted path (under `prefix`)."""
    out = []
    for err in errors:
        loc = [str(part) for part in (*prefix, *err.get("loc", ())) if part != "body"]
        out.append({"field": ".".join(loc) or "(body)", "message": err.get("msg", ""), "type": err["type"]})
    return out


def summary(errors: FieldErrors) -> str:
    """`N problem(s) in: a, b` for the detail line."""
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return f"{len(errors)} problem(s) in: {fields}"
