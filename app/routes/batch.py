"""`POST /v1/complaints/batch`: up to 500 submissions, one result per item, valid items taken regardless.

Every item is validated on its own: an invalid item gets its own 422 problem and does not spoil the others.
The valid items are sent to the bus together (the Kafka producer packs them into a few produce requests)
and each is accepted only on its own acknowledgement. The answer is 202 when every item was accepted, 207
(Multi-Status) when some were not (each result carries its status), and 503 with `Retry-After` when the bus
acknowledged none. Retrying a whole batch is safe: accepted items keep their ticket ids.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import ErrorDetails

from app.auth import AdapterDep, channel_error
from app.deps import ResourcesDep
from app.intake import AcceptedRecord, build_record, publish_many
from app.metrics import REJECTIONS
from app.problems import error_fields, problem_responses, render, summary
from app.routes.complaints import IdempotencyKey, status_url, unavailable
from app.views import BatchAccepted
from ingest.schemas.submission import AnySubmission, Submission

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])

MAX_BATCH = 500


class InvalidItem:
    """Stands in for an item that failed validation, with its errors."""

    def __init__(self, errors: list[ErrorDetails]) -> None:
        self.errors = errors


def _capture(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        return InvalidItem(exc.errors())


# Validated one by one: the schema is that of a submission, but a failure becomes an InvalidItem.
BatchItem = Annotated[Submission, WrapValidator(_capture)]


class BatchRequest(BaseModel):
    """Up to 500 submissions of any channels the key allows."""

    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[BatchItem], Field(min_length=1, max_length=MAX_BATCH)]


_EXAMPLE = {
    "value": {
        "items": [
            {
                "channel": "web",
                "external_id": "web-0001",
                "content": "朝阳区望京西园三区门口的烧烤摊每天营业到凌晨两点,油烟和噪音很大。",
                "citizen": {"phone": "13800138000"},
            },
            {"channel": "web", "external_id": "web-0002", "content": "路灯坏了", "citizen": {"phone": "12"}},
        ]
    }
}


def _item_problem(
    status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """A `Problem` as the response carries it (JSON, no None fields), built without a model per item."""
    problem: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors is not None:
        problem["errors"] = errors
    return problem


@router.post(
    "/batch",
    status_code=202,
    response_model=BatchAccepted,
    responses={
        207: {"model": BatchAccepted, "description": "Some items were not accepted: see each result"},
        **problem_responses(401, 413, 422, 429, 503),
    },
    summary="Submit up to 500 complaints at once",
)
async def submit_batch(
    batch: Annotated[BatchRequest, Body(openapi_examples={"two items, one invalid": _EXAMPLE})],
    request: Request,
    resources: ResourcesDep,
    adapter: AdapterDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Accept each valid item once the bus acknowledged it; one result per item, in order.

    **202** every item was accepted. **207** some were not: each result has its own status — 202 accepted,
    403 the key may not submit on the item's channel, 422 invalid item (field paths `items.<i>.…`), 503 the
    bus did not acknowledge it (`Retry-After` is then set; retry those items). **503** the bus acknowledged
    none: retry the batch. Retrying is safe: accepted items keep their ticket ids. With an
    `Idempotency-Key` header, item *i* without an external_id is keyed `<key>:<i>`.
    """
    settings = resources.settings
    guard = request.app.state.guard
    # The request was charged one submission by authentication; the rest of the items now.
    guard.charge(adapter, len(batch.items) - 1)
    flood = request.app.state.flood
    # Results as the JSON they are sent as, in `ItemResult`'s field order and without None fields: one
    # pydantic model per item (and one dump of them all) cost a tenth of a 500-item batch.
    results: list[dict[str, Any]] = []
    records: dict[str, AcceptedRecord] = {}
    for index, item in enumerate(batch.items):
        if isinstance(item, InvalidItem):
            errors = error_fields(item.errors, ("items", index))
            problem = _item_problem(422, "Invalid submission", summary(errors), errors=errors)
            results.append({"index": index, "status": 422, "problem": problem})
            continue
        sub: AnySubmission = item
        if why := channel_error(adapter, sub.channel):
            results.append({"index": index, "status": 403, "problem": _item_problem(403, "Forbidden", why)})
            continue
        key = f"{idempotency_key}:{index}" if idempotency_key else None
        record = build_record(sub, key, settings.ticket_secret, flood)
        # The same ticket twice in one batch (a duplicated item) is sent once.
        record = records.setdefault(record.ticket_id, record)
        results.append({"index": index, "status": 202, "ticket_id": record.ticket_id})

    unique = list(records.values())
    # One send for all the valid items; each is still accepted only on its own acknowledgement.
    outcomes = await publish_many(unique, resources)
    failed = {r.ticket_id: o for r, o in zip(unique, outcomes, strict=True) if o is not None}
    accepted = 0
    for result in results:
        ticket_id = result.get("ticket_id")
        if ticket_id is None:
            continue
        if ticket_id in failed:
            detail = f"not accepted: {failed[ticket_id]}; retry this item"
            del result["ticket_id"]
            result["status"] = 503
            result["problem"] = _item_problem(503, "Service unavailable", detail)
        else:
            result["status_url"] = status_url(settings.public_base_url, ticket_id)
            accepted += 1

    refused = len(results) - accepted
    if refused:
        REJECTIONS.labels(reason="batch_item").inc(refused)
    if failed and all(r["status"] == 503 for r in results):
        # The bus took none of them: the whole batch is to be retried, as for a single submission.
        return unavailable(next(iter(failed.values())), settings.retry_after_s)
    body = {"accepted": accepted, "refused": refused, "results": results}
    headers = {"Retry-After": str(settings.retry_after_s)} if failed else None
    status = 207 if refused else 202
    return render(body, status, headers, "application/json")
