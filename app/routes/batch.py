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

from app.auth import AdapterDep
from app.deps import ResourcesDep
from app.problems import problem_responses, refusal_body, render
from app.refusals import InvalidSubmission, NotAcceptedYet, error_fields
from app.routes.complaints import IdempotencyKey, intake_of, status_url
from app.submission import Receipt
from app.views import BatchAccepted
from ingest.schemas.submission import Submission

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

    items: Annotated[list[BatchItem], Field(min_length=1, max_length=MAX_BATCH)] = Field(
        description="The submissions, each as `POST /v1/complaints` takes it; answered in the same order"
    )


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
    `Idempotency-Key` header, item *i* without an external_id is keyed `<key>:<i>`; without one, when the bus
    did not acknowledge every item, the answer carries the `Idempotency-Key` the gateway chose for those
    items: send it back with the retried batch.
    """
    # Invalid items are refused one by one: they do not spoil the others.
    items = [
        InvalidSubmission(error_fields(i.errors, ("items", n))) if isinstance(i, InvalidItem) else i
        for n, i in enumerate(batch.items)
    ]
    receipt = await intake_of(request).accept_many(resources, items, adapter, idempotency_key)
    base = resources.settings.public_base_url
    # Results as the JSON they are sent as, in `ItemResult`'s field order and without None fields: one
    # pydantic model per item (and one dump of them all) cost a tenth of a 500-item batch.
    results: list[dict[str, Any]] = []
    retry_after: int | None = None
    for index, outcome in enumerate(receipt.outcomes):
        if isinstance(outcome, Receipt):
            url = status_url(base, outcome.ticket_id)
            results.append({"index": index, "status": 202, "ticket_id": outcome.ticket_id, "status_url": url})
            continue
        problem = refusal_body(outcome)
        results.append({"index": index, "status": problem["status"], "problem": problem})
        if isinstance(outcome, NotAcceptedYet):
            retry_after = outcome.retry_after_s
    refused = len(results) - receipt.accepted
    body = {"accepted": receipt.accepted, "refused": refused, "results": results}
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if receipt.chosen_key is not None:
        headers["Idempotency-Key"] = receipt.chosen_key
    return render(body, 207 if refused else 202, headers or None, "application/json")
