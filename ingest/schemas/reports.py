"""The reports' shapes: the hourly brief (`GET /v1/reports/brief`, and `report.hourly_brief` on
complaints.reports) and the detector's alerts (`alert.raised` on complaints.alerts).

One model is both the API's answer and the event, so a dashboard reads the same fields from either.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, Field

from ingest.schemas.events import Urgency

AlertKind = Literal["count_spike", "incident_growth", "incident_size"]

# What the fields shared by several of the models below mean.
SCHEMA_VERSION = "the version of this event's schema: a subscriber skips versions it does not know"
EVENT_TYPE = "what the event is, also in the `event_type` Kafka header when published"
INCIDENT_ID = "the incident's id, as its tickets' `incident_id`"
_MISSING = "null only if the incident's record is missing"
INCIDENT_TITLE = f"the title of the ticket that started it (empty when that ticket had none); {_MISSING}"
INCIDENT_CATEGORY = (
    "the category of the ticket that started it; null when it had none or the record is missing"
)
INCIDENT_DISTRICT = "the district its texts name or imply; null when unknown or the record is missing"
INCIDENT_PLACE = (
    "the places its texts name, up to three, joined by 、; null when none or the record is missing"
)
INCIDENT_FIRST_SEEN = f"when its first ticket was received (UTC); {_MISSING}"


class Count(BaseModel):
    """Tickets of one name (a category, a district) in the hour."""

    name: str | None = Field(description="null: not known (no category or district was found)")
    tickets: int = Field(description="tickets of that name received in the hour (so far, while it runs)")


class HourTotal(BaseModel):
    """The hour's tickets against the same hour a week earlier."""

    tickets: int = Field(description="tickets received in the hour (so far, while it runs)")
    urgent: int = Field(description="critical and high tickets")
    week_before: int = Field(description="tickets in the same local hour seven days earlier")
    change: float | None = Field(description="(tickets − week_before) / week_before; null when 0 before")


class RisingIncident(BaseModel):
    """An incident that grew in the hour."""

    incident_id: str = Field(description=INCIDENT_ID)
    title: str | None = Field(description=INCIDENT_TITLE)
    category: str | None = Field(description=INCIDENT_CATEGORY)
    district: str | None = Field(description=INCIDENT_DISTRICT)
    place: str | None = Field(description=INCIDENT_PLACE)
    size: int | None = Field(description="tickets in the incident so far")
    growth: int = Field(description="tickets that joined it in the hour")
    new: bool = Field(description="its first ticket came in this hour")
    first_seen: datetime | None = Field(description=INCIDENT_FIRST_SEEN)
    sample_titles: list[str] = Field(
        description="up to three distinct titles of its tickets of the hour, earliest first (a ticket "
        "without a title: its text's first 40 characters), personal numbers masked"
    )


class Hotspot(BaseModel):
    """A district × category cell far above its own baseline."""

    district: str | None = Field(description="the cell's district; null: not known")
    category: str | None = Field(description="the cell's category; null: not known")
    tickets: int = Field(description="tickets of the cell received in the hour (so far, while it runs)")
    baseline: float = Field(description="mean tickets of the cell at this hour on the previous days")
    expected: float = Field(description="the baseline scaled to the part of the hour elapsed")
    score: float = Field(description="(tickets − expected) / √(expected + 1)")


class UrgentTicket(BaseModel):
    """A critical or high ticket of the hour, with its status now."""

    ticket_id: str = Field(description="the ticket number the gateway answered with")
    received_at: datetime = Field(description="when the gateway accepted it (UTC)")
    urgency: Urgency = Field(description="`critical` or `high`, as the urgency model judged it")
    urgency_situation: str | None = Field(
        description="the situation of the urgency catalogue (ingest/urgency/situations.toml) that made it "
        "critical or high; null when none was recorded"
    )
    title: str = Field(
        description="its title, or for a ticket without one (most WeChat and phone messages) its text's "
        "first 40 characters; personal numbers masked"
    )
    category: str | None = Field(description="the judged category; null when the judgement gave none")
    district: str | None = Field(description="the ticket's district; null when unknown")
    department: str | None = Field(
        description="the department the routing table sends it to; null when none was recorded"
    )
    status: str = Field(
        description='its lifecycle status when the report was built (docs/storage.md, "Status lifecycle")'
    )


class AlertRaised(BaseModel):
    """`alert.raised` on complaints.alerts: the detector found a spike (docs/reports.md has the rules)."""

    schema_version: Literal[1] = Field(default=1, description=SCHEMA_VERSION)
    event_type: Literal["alert.raised"] = Field(default="alert.raised", description=EVENT_TYPE)
    alert_id: str = Field(description="The same spike always has the same id: deduplicate on it")
    kind: AlertKind = Field(
        description="the rule that fired: `count_spike` (a district × category cell far above its baseline), "
        "`incident_growth` (an incident gained many tickets within the hour) or `incident_size` (an incident "
        "that grew in the hour reached the size threshold)"
    )
    hour: datetime = Field(description="start of the UTC hour the spike was seen in")
    raised_at: datetime = Field(description="when the detector raised it (UTC)")
    subject: dict[str, Any] = Field(
        description="what spiked: {district, category} for a count, {incident_id, title, place, …} for an "
        "incident"
    )
    observed: int = Field(description="tickets in the hour so far (incident_size: the incident's size)")
    baseline: float | None = Field(description="the whole hour's baseline (count_spike), else null")
    score: float | None = Field(
        description="the count's Poisson z-score against its baseline (count_spike, as a hotspot's `score`), "
        "else null"
    )
    message: str = Field(description="one line in Chinese for the duty officer")

    def to_bytes(self) -> bytes:
        """Serialise for the bus."""
        return orjson.dumps(self.model_dump(mode="json"))


class HourlyBrief(BaseModel):
    """`report.hourly_brief`: the hotline's hourly report (小时报), from the rollups."""

    schema_version: Literal[1] = Field(default=1, description=SCHEMA_VERSION)
    event_type: Literal["report.hourly_brief"] = Field(default="report.hourly_brief", description=EVENT_TYPE)
    hour: str = Field(description="the local hour, YYYY-MM-DDTHH")
    timezone: str = Field(description="the IANA time zone the hour is local to")
    start: datetime = Field(description="where the hour starts (UTC)")
    end: datetime = Field(description="where the hour ends, the next hour's start (UTC)")
    complete: bool = Field(description="false while the hour is still running: the figures will grow")
    generated_at: datetime = Field(description="when the brief was built from the rollups (UTC)")
    total: HourTotal
    by_category: list[Count] = Field(description="the hour's tickets per category, most first")
    by_district: list[Count] = Field(description="the hour's tickets per district, most first")
    new_incidents: int = Field(description="incidents whose first ticket came in the hour")
    rising_incidents: list[RisingIncident] = Field(
        description="up to 10 incidents that gained at least 2 tickets in the hour, most growth first"
    )
    hotspots: list[Hotspot] = Field(
        description="up to 20 district × category cells far above their baseline, highest score first"
    )
    urgent_tickets: list[UrgentTicket] = Field(
        description="the critical and high tickets received in the hour (up to 200), oldest first"
    )
    alerts: list[AlertRaised] = Field(description="the detector's alerts about the hour, in the order raised")
    summary: str = Field(description="a short summary in Chinese, generated from the figures above")

    def to_bytes(self) -> bytes:
        """Serialise for the bus."""
        return orjson.dumps(self.model_dump(mode="json"))


class DayHour(BaseModel):
    """One local hour of the day against the same hour a week earlier."""

    hour: str = Field(description="the local hour of the day, HH")
    start: datetime = Field(description="where the hour starts (UTC)")
    tickets: int = Field(description="tickets received in the hour")
    urgent: int = Field(description="critical and high tickets")
    week_before: int = Field(description="tickets in the same local hour seven days earlier")
    elapsed: bool = Field(description="the hour has started (a later hour's tickets are 0 so far)")


class DayTotal(BaseModel):
    """The day so far against the same hours a week earlier."""

    tickets: int = Field(description="tickets of the hours elapsed")
    urgent: int = Field(description="critical and high tickets of the hours elapsed")
    week_before: int = Field(description="tickets of the same hours seven days earlier")
    change: float | None = Field(description="(tickets − week_before) / week_before; null when 0 before")


class DayCell(BaseModel):
    """A district × category cell's tickets over the day so far."""

    district: str | None = Field(description="the tickets' district; null when none was found")
    category: str | None = Field(description="the tickets' category; null when the judgement gave none")
    tickets: int = Field(description="tickets of the cell over the day so far")


class DayReport(BaseModel):
    """A local day for the live dashboard (`GET /v1/reports/day`), from the rollups."""

    date: Annotated[date, Field(description="the local day")]
    timezone: str = Field(description="the IANA time zone the day is local to")
    start: datetime = Field(description="where the day starts (UTC)")
    end: datetime = Field(description="where the day ends (UTC)")
    complete: bool = Field(description="false while the day is still running")
    generated_at: datetime = Field(description="when the report was read from the rollups (UTC)")
    total: DayTotal
    hours: list[DayHour] = Field(
        description="every local hour of the day, in order (24, or 23/25 on a DST day)"
    )
    cells: list[DayCell] = Field(description="district × category cells with tickets, most first")
    urgent_open: list[UrgentTicket] = Field(
        description="the day's critical and high tickets not yet resolved, closed or rejected, oldest first"
    )
    alerts: list[AlertRaised] = Field(
        description="the latest alerts about the day's hours, in the order raised"
    )


class MonthlyIssue(BaseModel):
    """A 每月一题 candidate: an incident (one problem at one place) that came back week after week."""

    rank: int = Field(description="its place on the shortlist, from 1: most weeks first, then most tickets")
    incident_id: str = Field(description=INCIDENT_ID)
    title: str | None = Field(default=None, description=INCIDENT_TITLE)
    category: str | None = Field(default=None, description=INCIDENT_CATEGORY)
    district: str | None = Field(default=None, description=INCIDENT_DISTRICT)
    place: str | None = Field(default=None, description=INCIDENT_PLACE)
    size: int | None = Field(default=None, description="tickets in the incident over its whole life")
    first_seen: datetime | None = Field(default=None, description=INCIDENT_FIRST_SEEN)
    last_seen: datetime | None = Field(
        default=None,
        description="when its latest ticket was received, in the month or after (UTC); null only if the "
        "incident's record is missing",
    )
    weeks: list[date] = Field(description="the Mondays of the local weeks of the month it had tickets in")
    tickets: int = Field(description="its tickets in the month")
    citizens: int = Field(description="distinct citizens among them")
    repeat_callers: int = Field(description="citizens who called about it more than once in the month")
    departments: list[str] = Field(
        description="the departments its tickets of the month were routed to, sorted"
    )
    resolved: int = Field(description="its tickets of the month now resolved or closed")
    resolution_rate: float | None = Field(description="resolved / tickets")
    sample_messages: list[str] = Field(
        description="up to three distinct texts of its tickets of the month, earliest first, personal "
        "numbers masked"
    )


class MonthlyIssues(BaseModel):
    """The month's 每月一题 shortlist, most weeks first, then most tickets."""

    month: str = Field(description="YYYY-MM")
    timezone: str = Field(description="the IANA time zone the month and its weeks are local to")
    min_weeks: int = Field(
        description="the fewest local weeks (from Monday) of the month a candidate had tickets in, as asked "
        "for"
    )
    candidates: list[MonthlyIssue] = Field(description="the shortlist, in rank order")


class Rates(BaseModel):
    """The three rates of a set of tickets (docs/storage.md, "The three rates", has the definitions)."""

    tickets: int = Field(description="tickets received in the period, rejected ones left out")
    due: int = Field(description="of those, dispatched, or past the response limit without a dispatch")
    responded: int = Field(description="dispatched within the response limit")
    response_rate: float | None = Field(description="响应率: responded / due")
    followed_up: int = Field(description="closed with a follow-up call")
    solved: int = Field(description="of those, the citizen said solved")
    resolution_rate: float | None = Field(description="解决率: solved / followed_up")
    rated: int = Field(description="follow-up calls where the citizen gave a satisfaction")
    satisfied: int = Field(description="satisfied or basically satisfied")
    satisfaction_rate: float | None = Field(description="满意率: satisfied / rated")


class RatesRow(Rates):
    """The rates of one department, district or category."""

    name: str | None = Field(description="null: tickets without one")


class RatesReport(BaseModel):
    """The three rates over tickets received in [from, to), overall and by one dimension."""

    since: datetime = Field(
        alias="from",
        serialization_alias="from",
        description="the period's start as asked for: tickets received at or after it",
    )
    until: datetime = Field(
        alias="to",
        serialization_alias="to",
        description="the period's end as asked for: tickets received before it",
    )
    by: Literal["department", "district", "category"] = Field(description="the dimension of the rows")
    response_limit_hours: float = Field(
        description="the response rate's limit: dispatched within this many hours of being received "
        "(JIESU_RESPONSE_LIMIT_HOURS)"
    )
    total: Rates
    rows: list[RatesRow] = Field(
        description="the rates of each department, district or category, most tickets first"
    )

    model_config = {"populate_by_name": True}
