"""The read API for downstream systems: ticket lists, incidents and the hourly report.

`GET /v1/complaints` filters by time range, channel, category, district, urgency, status and incident, newest
first, paged by an opaque cursor; `GET /v1/incidents/{id}` is an incident with its tickets;
`GET /v1/reports/hourly?date=YYYY-MM-DD` counts a day's tickets by hour × category × district × channel.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field

from app.auth_downstream import DownstreamReader, DownstreamReaderDep
from app.deps import ResourcesDep
from app.downstream_queries import (
    BadCursor,
    TicketQuery,
    day_archived,
    decode_cursor,
    find_incident,
    hourly_report,
    list_tickets,
)
from app.personal_data import shown
from app.problems import problem
from ingest.lifecycle import Status
from ingest.schemas import descriptions as d
from ingest.settings import DEFAULT_REPORT_TIMEZONE

router = APIRouter(tags=["read"])

# The hotline's day: the hourly report counts local hours (a query parameter changes it).
DEFAULT_TIMEZONE = DEFAULT_REPORT_TIMEZONE


def _iso_8601_only(value: object) -> object:
    """Refuse a bare number: pydantic reads `until=0.5` or `date=0` as Unix time, which the contract never
    offered (it says ISO 8601)."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("expected ISO 8601, e.g. 2026-11-28 or 2026-11-28T08:00:00+08:00, not a number")
    return value


@functools.cache
def _iana_zones() -> frozenset[str]:
    """The IANA zone names (reading them scans the tz files once)."""
    return frozenset(available_timezones())


def iana_zone(name: str) -> ZoneInfo | None:
    """The IANA time zone called `name`, or None."""
    # Only the IANA database's zones: the system's tz files also hold helper entries (posixrules) that
    # Python loads and Postgres refuses.
    try:
        if name not in _iana_zones():
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_named(name: str) -> ZoneInfo | Response:
    """The IANA time zone called `name`, or the 400 problem saying there is none."""
    zone = iana_zone(name)
    if zone is None:
        return problem(400, "Unknown time zone", f"{name!r} is not an IANA time zone")
    return zone


def within_years(value: date) -> date:
    """Years 1970–9998: the edges of the calendar overflow when shifted by a time zone or a month."""
    if not 1970 <= value.year <= 9998:
        raise ValueError("expected a year between 1970 and 9998")
    return value


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_8601_only), AfterValidator(within_years)]
IsoDate = Annotated[date, BeforeValidator(_iso_8601_only), AfterValidator(within_years)]
# Postgres text cannot hold a NUL byte: a filter with one is refused here (422), not by the database (500).
NO_NUL = r"^[^\x00]*$"


_NEXT_CURSOR = "Give it back as `cursor` for the next page; null on the last"


class TicketItem(BaseModel):
    """A stored ticket as listed."""

    ticket_id: str = Field(description=d.TICKET_ID)
    status: Status = Field(description=d.STATUS)
    channel: str = Field(description=d.CHANNEL)
    received_at: datetime = Field(description=d.RECEIVED_AT)
    processed_at: datetime = Field(description=d.PROCESSED_AT)
    status_changed_at: datetime | None = Field(description="When its status last changed; null if never")
    title: str = Field(description=d.TITLE)
    content: str = Field(description=d.CONTENT)
    district: str | None = Field(description=d.DISTRICT)
    address: str | None = Field(description=d.ADDRESS)
    category: str | None = Field(description=d.CATEGORY)
    urgency: str = Field(description=d.URGENCY)
    department: str | None = Field(
        description="The department the ticket is with: the routing table's, or one a status change named"
    )
    needs_review: bool = Field(description=d.NEEDS_REVIEW)
    duplicate_of: str | None = Field(description=d.DUPLICATE_OF)
    incident_id: str | None = Field(description=d.INCIDENT_ID)


class TicketPage(BaseModel):
    """One page of tickets; pass `next_cursor` as `cursor` for the next (null on the last page)."""

    items: list[TicketItem] = Field(description="The page's tickets")
    next_cursor: str | None = Field(description=_NEXT_CURSOR)


class Incident(BaseModel):
    """Tickets about one real-world problem, with one page of them."""

    incident_id: str = Field(description="The incident's id, as its tickets' `incident_id`")
    title: str | None = Field(default=None, description="The title of the ticket that started it")
    category: str | None = Field(default=None, description="The category of the ticket that started it")
    district: str | None = Field(default=None, description="The district its texts name or imply")
    place: str | None = Field(
        default=None, description="The places its texts name, up to three, joined by 、"
    )
    size: int | None = Field(default=None, description="How many tickets it holds")
    first_seen: datetime | None = Field(default=None, description="When its first ticket was sent")
    last_seen: datetime | None = Field(default=None, description="When its latest ticket was sent")
    merged_into: str | None = Field(
        default=None,
        description="Set when later reports showed this incident to be part of another: the incident its "
        "tickets moved to (read that one); null for an incident in its own right",
    )
    tickets: list[TicketItem] = Field(description="One page of its tickets, oldest first")
    next_cursor: str | None = Field(description=_NEXT_CURSOR)


class HourlyRow(BaseModel):
    """Tickets received in one local hour with one category, district and channel."""

    hour: datetime = Field(
        description="the local hour's start, with the zone's UTC offset (on a day the clocks go back, the "
        "repeated hour's tickets are one row)"
    )
    category: str | None = Field(
        description="the tickets' judged category; null when the judgement gave none"
    )
    district: str | None = Field(description="the tickets' district; null when unknown")
    channel: str = Field(description=d.CHANNEL)
    count: int = Field(description="tickets received in that hour with that category, district and channel")


class HourlyReport(BaseModel):
    """The hotline's hourly report of one day."""

    date: Annotated[date, Field(description="the local day counted, YYYY-MM-DD")]
    timezone: str = Field(description="the IANA time zone the day and its hours are local to")
    total: int = Field(description="tickets received in the day, the rows' counts added up")
    rows: list[HourlyRow] = Field(
        description="one row per local hour × category × district × channel with tickets, by hour, then "
        "category, district and channel; hours without tickets are absent"
    )


def _bad_cursor(cursor: str) -> Any:
    return problem(400, "Invalid cursor", f"{cursor[:80]!r} is not a cursor this API issued")


def _shown(
    resources: ResourcesDep,
    rows: list[dict[str, Any]],
    reader: DownstreamReader,
    route: str,
    beside: tuple[dict[str, Any], ...] = (),
) -> list[dict[str, Any]]:
    return shown(
        resources.settings, rows, reader=reader.name, verified=reader.verified, route=route, beside=beside
    )


@router.get(
    "/v1/complaints",
    response_model=TicketPage,
    responses={400: {"description": "Invalid cursor"}, 401: {"description": "No valid downstream key"}},
    summary="List tickets with filters, newest first, paged by cursor",
)
async def list_complaints(
    *,
    resources: ResourcesDep,
    reader: DownstreamReaderDep,
    since: Annotated[IsoDatetime | None, Query(description="received at or after (ISO 8601)")] = None,
    until: Annotated[IsoDatetime | None, Query(description="received before (ISO 8601)")] = None,
    channel: Literal["web", "wechat", "phone"] | None = None,
    category: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    district: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    urgency: Literal["critical", "high", "normal"] | None = None,
    status: Status | None = None,
    incident: Annotated[str | None, Query(max_length=64, pattern=NO_NUL, description="incident id")] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Tickets matching every given filter; a time range limits the scan to the months it covers."""
    try:
        after = decode_cursor(cursor) if cursor else None
    except BadCursor:
        return _bad_cursor(cursor or "")
    if since is not None and until is not None and since >= until:
        return problem(400, "Invalid time range", "`since` must be before `until`")
    given = {
        "channel": channel,
        "category": category,
        "district": district,
        "urgency": urgency,
        "status": status,
        "incident_id": incident,
    }
    query = TicketQuery(
        since=since,
        until=until,
        equals=tuple((column, value) for column, value in given.items() if value is not None),
        after=after,
        limit=limit,
    )
    rows, next_cursor = await list_tickets(resources.engine, query)
    rows = _shown(resources, rows, reader, "/v1/complaints")
    return TicketPage(items=[TicketItem.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/v1/incidents/{incident_id}",
    response_model=Incident,
    responses={404: {"description": "No such incident"}, 400: {"description": "Invalid cursor"}},
    summary="An incident and its tickets, oldest first",
)
async def read_incident(
    incident_id: Annotated[str, Path(max_length=128, pattern=NO_NUL)],
    resources: ResourcesDep,
    reader: DownstreamReaderDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """The incident's summary and one page of the tickets linked to it."""
    try:
        after = decode_cursor(cursor) if cursor else None
    except BadCursor:
        return _bad_cursor(cursor or "")
    incident, rows, next_cursor = await find_incident(resources.engine, incident_id, after, limit)
    if incident is None and not rows:
        return problem(404, "Not found", f"no incident {incident_id!r}")
    # The summary's title is its first ticket's: masked as the tickets are.
    summary = {k: v for k, v in (incident or {}).items() if k in Incident.model_fields}
    rows = _shown(resources, rows, reader, "/v1/incidents/{incident_id}", beside=(summary,))
    return Incident(
        **{**summary, "incident_id": incident_id},
        tickets=[TicketItem.model_validate(r) for r in rows],
        next_cursor=next_cursor,
    )


@router.get(
    "/v1/reports/hourly",
    response_model=HourlyReport,
    responses={400: {"description": "Unknown time zone"}, 410: {"description": "The month was archived"}},
    summary="The hourly report: a day's tickets by hour × category × district × channel",
)
async def hourly(
    resources: ResourcesDep,
    _reader: DownstreamReaderDep,
    day: Annotated[IsoDate, Query(alias="date", description="the day, YYYY-MM-DD")],
    timezone: Annotated[str, Query(max_length=64, description="IANA zone of the day")] = DEFAULT_TIMEZONE,
) -> Any:
    """Counts per local hour; hours without tickets are absent."""
    zone = zone_named(timezone)
    if isinstance(zone, Response):
        return zone
    if await day_archived(resources.engine, day, zone):
        return problem(410, "Archived", f"{day} lies in an archived month; read it from the archive")
    rows = await hourly_report(resources.engine, day, zone)
    return HourlyReport(
        date=day,
        timezone=timezone,
        total=sum(r["count"] for r in rows),
        rows=[HourlyRow.model_validate(r) for r in rows],
    )
