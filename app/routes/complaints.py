"""`POST /v1/complaints` and `GET /v1/complaints/{ticket_id}`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Header, Request, Response

from app.auth import Adapter, AdapterDep, ReaderDep, ensure_channel
from app.deps import Resources, ResourcesDep
from app.intake import build_record, publish
from app.limits import FloodTracker
from app.metrics import REJECTIONS
from app.problems import problem, problem_responses
from app.queries import find_archived, find_ticket
from app.views import Accepted, TicketView
from ingest.bus import BusUnavailable
from ingest.schemas.submission import AnySubmission, Submission, external_id_of
from ingest.tickets import is_issued_ticket_id

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])

_EXAMPLES: dict[str, Any] = {
    "web": {
        "value": {
            "channel": "web",
            "external_id": "web-0001",
            "title": "小区门口烧烤摊夜间噪音扰民",
            "content": "朝阳区望京西园三区门口的烧烤摊每天营业到凌晨两点，油烟和噪音很大。",
            "citizen": {"phone": "13800138000"},
            "location": {"district": "朝阳区", "address": "望京西园三区"},
        }
    },
    "wechat": {
        "value": {
            "channel": "wechat",
            "external_id": "wx-msg-0001",
            "content": "海淀区学院路路口的红绿灯坏了两天了。",
            "citizen": {"wechat_openid": "oAbC123xyz"},
        }
    },
    "phone": {
        "value": {
            "channel": "phone",
            "external_id": "call-0001",
            "call": {
                "call_id": "call-0001",
                "caller": "13900139000",
                "duration_s": 182,
                "transcript": [
                    {"speaker": "citizen", "text": "我家楼下的路灯坏了一个星期了", "confidence": 0.93},
                    {"speaker": "agent", "text": "请问具体地址是哪里", "confidence": 0.97},
                    {"speaker": "citizen", "text": "丰台区方庄芳城园一区十二号楼", "confidence": 0.88},
                ],
            },
        }
    },
}
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=128,
        description="Makes the submission idempotent when the body has no external_id: the same key "
        "(per channel) always yields the same ticket id",
    ),
]


def status_url(base: str, ticket_id: str) -> str:
    """Where a ticket's status is read."""
    return f"{base.rstrip('/')}/v1/complaints/{ticket_id}"


def unavailable(exc: BusUnavailable, retry_after_s: int, idempotency_key: str | None = None) -> Response:
    """The 503 for a submission the bus did not acknowledge in time: not accepted *yet*.

    The record may still reach Kafka after the budget (the producer keeps it until it expires), so a retry
    must be recognisable as the same submission: with `external_id` it is; without one, the answer carries the
    `Idempotency-Key` the gateway chose, and a retry that sends it back gets the same ticket id.
    """
    REJECTIONS.labels(reason="bus_unavailable").inc()
    headers = {"Retry-After": str(retry_after_s)}
    if idempotency_key is None:
        return problem(
            503, "Service unavailable", f"not accepted: {exc}; retry later with the same external_id", headers
        )
    headers["Idempotency-Key"] = idempotency_key
    return problem(
        503,
        "Service unavailable",
        f"not accepted: {exc}; retry later with the header Idempotency-Key: {idempotency_key}",
        headers,
        idempotency_key=idempotency_key,
    )


@router.post(
    "",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(401, 403, 413, 422, 429, 503),
    summary="Submit one complaint from any channel",
)
async def submit(
    submission: Annotated[Submission, Body(openapi_examples=_EXAMPLES)],
    request: Request,
    resources: ResourcesDep,
    adapter: AdapterDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Accept a submission; answer 202 with its ticket id only after the bus acknowledged the record.

    The same `(channel, external_id)` — or the same `Idempotency-Key` — always yields the same ticket id,
    and the pipeline stores it once, so a retry after a timeout or a 503 is always safe; a 503 for a
    submission with neither carries the `Idempotency-Key` to retry with.
    """
    return await accept(submission, adapter, idempotency_key, resources, request.app.state.flood)


async def accept(
    submission: AnySubmission,
    adapter: Adapter,
    idempotency_key: str | None,
    resources: Resources,
    flood: FloodTracker | None,
) -> Response:
    """The route's work after authentication: channel check, record, publish, 202 (or 403, 503).

    Shared by the route and the fast lane (app/fastlane.py), so both answer alike by construction.
    """
    ensure_channel(adapter, submission.channel)
    settings = resources.settings
    # Without any key a late-acknowledged record and its retry would be two tickets: choose a key now, and
    # hand it back with a 503 for the retry to send.
    chosen_key = None if idempotency_key or external_id_of(submission) else uuid.uuid4().hex
    record = build_record(submission, idempotency_key or chosen_key, settings.ticket_secret, flood)
    try:
        await publish(record, resources)
    except BusUnavailable as exc:
        return unavailable(exc, settings.retry_after_s, chosen_key)
    return accepted(record.ticket_id, settings.public_base_url)


def accepted(ticket_id: str, base: str) -> Response:
    """The 202 of an accepted submission: `Accepted` as JSON, built without a pydantic model per request."""
    # orjson writes what JSONResponse (json.dumps, compact, ensure_ascii=False) would for these two strings;
    # tests/unit/test_fastlane.py holds the two to the same bytes.
    body = orjson.dumps({"ticket_id": ticket_id, "status_url": status_url(base, ticket_id)})
    return Response(body, status_code=202, media_type="application/json")


@router.get(
    "/{ticket_id}",
    response_model=TicketView,
    responses={**problem_responses(401, 404), 410: {"description": "The ticket's month was archived"}},
    summary="Read a ticket's status and classification",
)
async def read(ticket_id: str, resources: ResourcesDep, reader: ReaderDep, response: Response) -> Any:
    """The stored ticket; `received` for an issued id not stored yet; 410 once its month is archived; 404
    for an id this deployment never issued (any adapter's key)."""
    # Ids this deployment never signed are answered without a database query.
    if not is_issued_ticket_id(resources.settings.ticket_secret, ticket_id):
        return problem(404, "Not found", f"no ticket {ticket_id!r}")
    found = await find_ticket(resources.engine, ticket_id)
    if found is not None:
        return found
    if (archived := await find_archived(resources.engine, ticket_id)) is not None:
        return problem(410, "Archived", archived.detail(), month=f"{archived.month:%Y-%m}")
    return TicketView(ticket_id=ticket_id, status="received")
