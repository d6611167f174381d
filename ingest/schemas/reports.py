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


class Count(BaseModel):
    """Tickets of one name (a category, a district) in the hour."""

    name: str | None = Field(description="null: not known (no category or district was found)")
    tickets: int


class HourTotal(BaseModel):
    """The hour's tickets against the same hour a week earlier."""

    tickets: int
    urgent: int = Field(description="critical and high tickets")
    week_before: int = Field(description="tickets in the same local hour seven days earlier")
    change: float | None = Field(description="(tickets − week_before) / week_before; null when 0 before")


class RisingIncident(BaseModel):
    """An incident that grew in the hour."""

    incident_id: str
    title: str | None
    category: str | None
    district: str | None
    place: str | None
    size: int | None = Field(description="tickets in the incident so far")
    growth: int = Field(description="tickets that joined it in the hour")
    new: bool = Field(description="its first ticket came in this hour")
    first_seen: datetime | None
    sample_titles: list[str]


class Hotspot(BaseModel):
    """A district × category cell far above its own baseline."""

    district: str | None
    category: str | None
    tickets: int
    baseline: float = Field(description="mean tickets of the cell at this hour on the previous days")
    expected: float = Field(description="the baseline scaled to the part of the hour elapsed")
    score: float = Field(description="(tickets − expected) / √(expected + 1)")


class UrgentTicket(BaseModel):
    """A critical or high ticket of the hour, with its status now."""

    ticket_id: str
    received_at: datetime
    urgency: Urgency
    urgency_situation: str | None
    title: str
    category: str | None
    district: str | None
    department: str | None
    status: str


class AlertRaised(BaseModel):
    """`alert.raised` on complaints.alerts: the detector found a spike (docs/reports.md has the rules)."""

    schema_version: Literal[1] = 1
    event_type: Literal["alert.raised"] = "alert.raised"
    alert_id: str = Field(description="The same spike always has the same id: deduplicate on it")
    kind: AlertKind
    hour: datetime = Field(description="start of the UTC hour the spike was seen in")
    raised_at: datetime
    subject: dict[str, Any] = Field(
        description="what spiked: {district, category} for a count, {incident_id, title, place, …} for an "
        "incident"
    )
    observed: int = Field(description="tickets in the hour so far (incident_size: the incident's size)")
    baseline: float | None = Field(description="the whole hour's baseline (count_spike), else null")
    score: float | None
    message: str = Field(description="one line in Chinese for the duty officer")

    def to_bytes(self) -> bytes:
        """Serialise for the bus."""
        return orjson.dumps(self.model_dump(mode="json"))


class HourlyBrief(BaseModel):
    """`report.hourly_brief`: the hotline's hourly report (小时报), from the rollups."""

    schema_version: Literal[1] = 1
    event_type: Literal["report.hourly_brief"] = "report.hourly_brief"
    hour: str = Field(description="the local hour, YYYY-MM-DDTHH")
    timezone: str
    start: datetime = Field(description="where the hour starts (UTC)")
    end: datetime
    complete: bool = Field(description="false while the hour is still running: the figures will grow")
    generated_at: datetime
    total: HourTotal
    by_category: list[Count]
    by_district: list[Count]
    new_incidents: int = Field(description="incidents whose first ticket came in the hour")
    rising_incidents: list[RisingIncident]
    hotspots: list[Hotspot]
    urgent_tickets: list[UrgentTicket]
    alerts: list[AlertRaised]
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

    rank: int
    incident_id: str
    title: str | None = None
    category: str | None = None
    district: str | None = None
    place: str | None = None
    size: int | None = Field(default=None, description="tickets in the incident over its whole life")
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    weeks: list[date] = Field(description="the Mondays of the local weeks of the month it had tickets in")
    tickets: int = Field(description="its tickets in the month")
    citizens: int = Field(description="distinct citizens among them")
    repeat_callers: int = Field(description="citizens who called about it more than once in the month")
    departments: list[str]
    resolved: int = Field(description="its tickets of the month now resolved or closed")
    resolution_rate: float | None = Field(description="resolved / tickets")
    sample_messages: list[str]


class MonthlyIssues(BaseModel):
    """The month's 每月一题 shortlist, most weeks first, then most tickets."""

    month: str = Field(description="YYYY-MM")
    timezone: str
    min_weeks: int
    candidates: list[MonthlyIssue]


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

    since: datetime = Field(alias="from", serialization_alias="from")
    until: datetime = Field(alias="to", serialization_alias="to")
    by: Literal["department", "district", "category"]
    response_limit_hours: float
    total: Rates
    rows: list[RatesRow]

    model_config = {"populate_by_name": True}
