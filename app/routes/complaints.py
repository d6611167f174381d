"""`POST /v1/complaints` and `GET /v1/complaints/{ticket_id}`."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Header, Request, Response

from app.auth import ANONYMOUS, AdapterDep, ReaderDep
from app.deps import ResourcesDep
from app.personal_data import shown
from app.problems import problem, problem_responses
from app.submission import MAX_IDEMPOTENCY_KEY, Intake
from app.ticket_lookup import find_archived, find_ticket
from app.views import Accepted, TicketView
from ingest.schemas.submission import Submission
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
        max_length=MAX_IDEMPOTENCY_KEY,
        description="Makes the submission idempotent when the body has no external_id: the same key "
        "(per channel) always yields the same ticket id",
    ),
]


def status_url(base: str, ticket_id: str) -> str:
    """Where a ticket's status is read."""
    return f"{base.rstrip('/')}/v1/complaints/{ticket_id}"


def intake_of(request: Request) -> Intake:
    """The app's submission service (created by app.gateway.install)."""
    intake: Intake = request.app.state.intake
    return intake


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
    receipt = await intake_of(request).accept(resources, submission, adapter, idempotency_key)
    return accepted(receipt.ticket_id, resources.settings.public_base_url)


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
    for an id this deployment never issued, or a ticket of another channel than the adapter key's."""
    # Ids this deployment never signed are answered without a database query.
    if not is_issued_ticket_id(resources.settings.ticket_secret, ticket_id):
        return problem(404, "Not found", f"no ticket {ticket_id!r}")
    found = await find_ticket(resources.engine, ticket_id)
    if found is not None and reader.channel is not None and found.channel != reader.channel:
        # An adapter reads its own channel's tickets only; another channel's is as unknown to it as any.
        return problem(404, "Not found", f"no ticket {ticket_id!r} on channel {reader.channel!r}")
    if found is not None:
        [view] = shown(
            resources.settings,
            [found.model_dump()],
            reader=reader.name,
            verified=reader is not ANONYMOUS,
            route="/v1/complaints/{ticket_id}",
        )
        return view
    if (archived := await find_archived(resources.engine, ticket_id)) is not None:
        return problem(410, "Archived", archived.detail(), month=f"{archived.month:%Y-%m}")
    return TicketView(ticket_id=ticket_id, status="received")
