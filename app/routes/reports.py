"""What the hotline's leaders look at: `GET /v1/reports/brief` (the hourly brief, JSON or CSV),
`GET /v1/reports/day` (a day for the live dashboard), `GET /v1/reports/monthly-issues` (每月一题 candidates)
and `GET /v1/reports/rates` (响应率 / 解决率 / 满意率).

Read from the rollups the reports worker keeps (docs/reports.md); downstream keys, like the read API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.auth_downstream import DownstreamReaderDep
from app.deps import ResourcesDep
from app.problems import problem
from app.reports_csv import brief_csv
from app.routes.downstream import IsoDate, IsoDatetime, zone_named
from ingest.reports.brief import BriefOptions, build_brief
from ingest.reports.day import DayOptions, build_day
from ingest.reports.hours import NotWholeHour, hour_of, local_hour, parse_hour
from ingest.reports.monthly import candidates, parse_month
from ingest.reports.rates import Dimension, rates_by, total
from ingest.schemas.reports import (
    DayReport,
    HourlyBrief,
    MonthlyIssue,
    MonthlyIssues,
    Rates,
    RatesReport,
    RatesRow,
)

router = APIRouter(tags=["reports"])

HOUR_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}$"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def refusals(bad_request: str) -> dict[int | str, dict[str, Any]]:
    """The report routes' documented refusals: what makes a 400, and the 401 without a downstream key."""
    return {400: {"description": bad_request}, 401: {"description": "No valid downstream key"}}


# The zone of an hour, day or month asked for.
ZoneQuery = Annotated[
    str | None, Query(max_length=64, description="IANA time zone of the period; the hotline's by default")
]


@router.get(
    "/v1/reports/brief",
    response_model=HourlyBrief,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **refusals("Not an hour, or a time zone the rollups cannot answer for"),
    },
    summary="The hourly brief (小时报): volume against last week, rising incidents, hotspots, urgent tickets",
)
async def brief(
    resources: ResourcesDep,
    _reader: DownstreamReaderDep,
    hour: Annotated[
        str | None,
        Query(pattern=HOUR_PATTERN, description="local hour YYYY-MM-DDTHH; the current hour if left out"),
    ] = None,
    timezone: ZoneQuery = None,
    format: Annotated[Literal["json", "csv"], Query(description="json, or csv to download")] = "json",
) -> Any:
    """The brief of one local hour as the rollups stand now (a running hour says `complete: false`)."""
    settings = resources.settings
    zone = zone_named(timezone or settings.report_timezone)
    if isinstance(zone, Response):
        return zone
    now = datetime.now(UTC)
    try:
        wanted = hour_of(now, zone) if hour is None else local_hour(parse_hour(hour), zone)
    except NotWholeHour as exc:
        return problem(400, "Time zone not supported", str(exc))
    except ValueError as exc:
        return problem(400, "Invalid hour", str(exc))
    found = await build_brief(resources.engine, wanted, BriefOptions.from_settings(settings), now)
    if format == "csv":
        return Response(
            brief_csv(found),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="brief-{found.hour}.csv"'},
        )
    return found


@router.get(
    "/v1/reports/day",
    response_model=DayReport,
    responses=refusals("Not a date, or a time zone the rollups cannot answer for"),
    summary="A day for the live dashboard: volume by hour against last week, district × category cells, "
    "open urgent tickets, alerts",
)
async def day_report(
    resources: ResourcesDep,
    _reader: DownstreamReaderDep,
    day: Annotated[
        IsoDate | None, Query(alias="date", description="the local day, YYYY-MM-DD; today if left out")
    ] = None,
    timezone: ZoneQuery = None,
) -> Any:
    """The day's figures as the rollups stand now (a running day says `complete: false`)."""
    zone = zone_named(timezone or resources.settings.report_timezone)
    if isinstance(zone, Response):
        return zone
    now = datetime.now(UTC)
    wanted = day or now.astimezone(zone).date()
    try:
        return await build_day(resources.engine, wanted, zone, DayOptions(), now)
    except NotWholeHour as exc:
        return problem(400, "Time zone not supported", str(exc))


@router.get(
    "/v1/reports/monthly-issues",
    response_model=MonthlyIssues,
    responses=refusals("Not a month, or an unknown time zone"),
    summary="每月一题 candidates: incidents that came back week after week in a month, ranked",
)
async def monthly_issues(
    resources: ResourcesDep,
    _reader: DownstreamReaderDep,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="the local month, YYYY-MM")],
    timezone: ZoneQuery = None,
    min_weeks: Annotated[int, Query(ge=1, le=6, description="fewest weeks of the month with tickets")] = 3,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    """Recurring incidents of the month with their citizens, repeat callers, departments, resolution rate
    and sample messages."""
    zone = zone_named(timezone or resources.settings.report_timezone)
    if isinstance(zone, Response):
        return zone
    try:
        wanted = parse_month(month, zone)
    except ValueError as exc:
        return problem(400, "Invalid month", str(exc))
    found = await candidates(resources.engine, wanted, min_weeks=min_weeks, limit=limit, samples=3)
    return MonthlyIssues(
        month=wanted.label,
        timezone=zone.key,
        min_weeks=min_weeks,
        candidates=[MonthlyIssue.model_validate(c) for c in found],
    )


# A period of the rates scans its tickets: up to a year of them.
MAX_RATES_PERIOD = timedelta(days=366)


@router.get(
    "/v1/reports/rates",
    response_model=RatesReport,
    response_model_by_alias=True,
    responses=refusals("Not a period"),
    summary="The three rates (响应率 / 解决率 / 满意率) of the tickets received in a period",
)
async def rates(
    resources: ResourcesDep,
    _reader: DownstreamReaderDep,
    since: Annotated[IsoDatetime, Query(alias="from", description="received at or after (ISO 8601)")],
    until: Annotated[IsoDatetime, Query(alias="to", description="received before (ISO 8601)")],
    by: Dimension = "department",
) -> Any:
    """Response, resolution and satisfaction rates overall and per department, district or category."""
    if not since < until <= since + MAX_RATES_PERIOD:
        return problem(400, "Invalid period", "`from` must be before `to`, and the period at most 366 days")
    limit_hours = resources.settings.response_limit_hours
    rows = await rates_by(resources.engine, since, until, by, limit_hours=limit_hours, now=datetime.now(UTC))
    return RatesReport(
        since=since,
        until=until,
        by=by,
        response_limit_hours=limit_hours,
        total=Rates.model_validate(total(rows)),
        rows=[RatesRow.model_validate(r) for r in rows],
    )
