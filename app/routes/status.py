"""`POST /v1/complaints/{ticket_id}/status` and `GET /v1/complaints/{ticket_id}/history`: the lifecycle API.

For downstream systems (authenticated by app/auth_downstream.py): each change is checked against the
lifecycle, kept in the ticket's history and published as `ticket.status_changed` on complaints.events.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field, model_validator

from app.auth_downstream import DownstreamDep, DownstreamReaderDep
from app.deps import ResourcesDep
from app.downstream_queries import ticket_history
from app.personal_data import shown
from app.problems import problem
from app.status_changes import Archived, NotStored, Refused, change_status
from app.ticket_lookup import find_archived
from ingest.bus import BusUnavailable
from ingest.lifecycle import Status
from ingest.schemas import descriptions as d
from ingest.schemas.events import FollowUp
from ingest.schemas.submission import Text
from ingest.tickets import is_issued_ticket_id
from ingest.topics import EVENTS, topic_name

router = APIRouter(prefix="/v1/complaints", tags=["lifecycle"])


class StatusChange(BaseModel):
    """A downstream system moving a ticket on."""

    status: Literal["dispatched", "resolved", "closed", "rejected"] = Field(
        examples=["dispatched"], description="The status to move the ticket to (docs/storage.md, the table)"
    )
    expected_status: Status | None = Field(
        default=None, description="Refuse (409) unless the ticket is in this status now: optimistic locking"
    )
    # Free text as everywhere (ingest/normalise.py): NFKC-folded, so that the masking of personal numbers sees
    # full-width digits as the digits they are, and control characters dropped (U+0000 among them, which
    # Postgres would refuse with a 500).
    department: Text | None = Field(default=None, max_length=128, description="Assigned department, if any")
    note: Text | None = Field(default=None, max_length=2000, description="A note kept with the change")
    follow_up: FollowUp | None = Field(
        default=None,
        description="The follow-up call (回访), with `closed` only: solved or not, and how satisfied; "
        "what the resolution and satisfaction rates count (GET /v1/reports/rates)",
    )

    @model_validator(mode="after")
    def _follow_up_only_on_closing(self) -> StatusChange:
        if self.follow_up is not None and self.status != "closed":
            raise ValueError("follow_up is recorded when the ticket is closed, not with another status")
        return self


class StatusResult(BaseModel):
    """The ticket's status after the request."""

    ticket_id: str = Field(description=d.TICKET_ID)
    status: Status = Field(description="The ticket's status now")
    previous_status: Status = Field(description="Its status before the request")
    seq: int = Field(description="Number of status changes so far; the event id is `<ticket_id>:<seq>`")
    changed: bool = Field(description="False when the ticket already had this status (a retried request)")
    changed_at: datetime | None = Field(
        description="When the change was committed; null when nothing changed"
    )


class HistoryEntry(BaseModel):
    """One step of a ticket's lifecycle."""

    seq: int = Field(description="0 for received and for processed, then each change's number: 1, 2, …")
    status: Status = Field(description="The status this step moved the ticket to")
    from_status: Status | None = Field(description="The status before the step; null for the first")
    at: datetime = Field(description="When the step happened")
    actor: str = Field(
        description="Who made the step: the gateway, a worker, or the downstream system's name"
    )
    note: str | None = Field(
        default=None,
        description="The note given with the step, if any; phone, ID-card and bank-card numbers in it masked "
        "unless the key is in JIESU_PERSONAL_DATA_READERS",
    )
    department: str | None = Field(default=None, description="The department named with the step, if any")


class History(BaseModel):
    """A ticket's lifecycle so far: received and processed, then every change by downstream systems."""

    ticket_id: str = Field(description=d.TICKET_ID)
    status: Status = Field(description="The ticket's status now")
    history: list[HistoryEntry] = Field(description="The steps, oldest first")


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such ticket"}}
_GONE: dict[int | str, dict[str, Any]] = {410: {"description": "The ticket's month was archived"}}


def _unknown(resources: ResourcesDep, ticket_id: str) -> Any:
    if not is_issued_ticket_id(resources.settings.ticket_secret, ticket_id):
        return problem(404, "Not found", f"no ticket {ticket_id!r}")
    return None


@router.post(
    "/{ticket_id}/status",
    response_model=StatusResult,
    responses={
        **_NOT_FOUND,
        **_GONE,
        401: {"description": "No valid downstream key"},
        409: {"description": "Not allowed from the current status, or not stored yet"},
        503: {"description": "The event could not be published; nothing changed, retry"},
    },
    summary="Move a ticket on its lifecycle (downstream systems)",
)
async def set_status(
    ticket_id: str,
    change: StatusChange,
    resources: ResourcesDep,
    actor: DownstreamDep,
    x_trace_id: Annotated[str | None, Header(max_length=64)] = None,
) -> Any:
    """Change the status; the same status again changes nothing; an illegal move is 409."""
    if (missing := _unknown(resources, ticket_id)) is not None:
        return missing
    settings = resources.settings
    try:
        outcome = await change_status(
            resources.engine,
            resources.producer,
            topic_name(EVENTS, settings.topic_prefix),
            ticket_id,
            target=change.status,
            actor=actor,
            note=change.note,
            department=change.department,
            expected=change.expected_status,
            trace_id=x_trace_id or uuid.uuid4().hex,
            follow_up=change.follow_up,
            mask_event=not settings.events_personal_data,
        )
    except NotStored:
        return problem(
            409,
            "Not processed yet",
            f"ticket {ticket_id} is still received: the workers have not stored it; retry shortly",
            headers={"Retry-After": str(settings.retry_after_s)},
            status_now="received",
        )
    except Archived:
        return problem(410, "Archived", f"ticket {ticket_id} belongs to an archived month")
    except Refused as exc:
        return problem(409, "Illegal status change", str(exc), status_now=exc.current)
    except BusUnavailable as exc:
        return problem(
            503,
            "Service unavailable",
            f"the change was not made: the event could not be published ({exc}); retry",
            headers={"Retry-After": str(settings.retry_after_s)},
        )
    return StatusResult(
        ticket_id=outcome.ticket_id,
        status=outcome.status,
        previous_status=outcome.previous_status,
        seq=outcome.seq,
        changed=outcome.changed,
        changed_at=outcome.changed_at,
    )


@router.get(
    "/{ticket_id}/history",
    response_model=History,
    responses={**_NOT_FOUND, **_GONE},
    summary="A ticket's status history",
)
async def history(ticket_id: str, resources: ResourcesDep, reader: DownstreamReaderDep) -> Any:
    """Received, processed, then every status change in order (a read: charged, audited, its notes masked
    for a reader without the personal-data scope)."""
    if (missing := _unknown(resources, ticket_id)) is not None:
        return missing
    found = await ticket_history(resources.engine, ticket_id)
    if found is None:
        if (archived := await find_archived(resources.engine, ticket_id)) is not None:
            return problem(410, "Archived", archived.detail(), month=f"{archived.month:%Y-%m}")
        return problem(404, "Not found", f"ticket {ticket_id} is not stored yet (not processed yet)")
    head, changes = found
    changes = shown(
        resources.settings,
        changes,
        reader=reader.name,
        verified=reader.verified,
        route="/v1/complaints/{ticket_id}/history",
    )
    entries = [
        HistoryEntry(seq=0, status="received", from_status=None, at=head["received_at"], actor="gateway"),
        HistoryEntry(
            seq=0, status="processed", from_status="received", at=head["processed_at"], actor="worker"
        ),
    ]
    entries += [
        HistoryEntry(
            seq=c["seq"],
            status=c["to_status"],
            from_status=c["from_status"],
            at=c["changed_at"],
            actor=c["actor"],
            note=c["note"],
            department=c["department"],
        )
        for c in changes
    ]
    return History(ticket_id=ticket_id, status=head["status"], history=entries)
