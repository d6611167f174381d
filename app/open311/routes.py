"""Open311 GeoReport v2 under `/open311/v2/`: discovery, services, requests (POST, GET), tokens.

POST requests is taken in as a web submission (the `api_key` is a web adapter's key) and, like every
submission, answered only after the bus acknowledged it: with a `token`, which `tokens/{token}` resolves
to the `service_request_id` once a worker stored the ticket. Every answer is JSON or XML as the path's
suffix asks, and every error is a GeoReport error list (`[{"code", "description"}]`) with the HTTP status
as its code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from app.auth import Adapter
from app.deps import ResourcesDep
from app.open311 import catalogue, render
from app.open311.models import (
    FORM_FIELD_NAMES,
    FORM_SCHEMA,
    Discovery,
    Endpoint,
    Open311Error,
    ServiceDefinition,
    ServiceInfo,
    ServiceRequest,
    TokenReply,
)
from app.open311.queries import CLOSED_STATUSES, RequestFilter, find_requests
from app.refusals import SubmissionRefused, error_fields
from app.routes.complaints import intake_of
from app.routes.read import within_years
from app.submission import IDEMPOTENCY_HEADER
from ingest.schemas.submission import Timestamp, WebSubmission
from ingest.tickets import is_issued_ticket_id

CHANGESET = "2026-11-28T00:00:00Z"
DEFAULT_WINDOW = timedelta(days=90)
_DB_TIMEOUT_S = 5.0


class Open311Route(APIRoute):
    """Answers every error of its endpoint as a GeoReport error, in the format of the path's suffix."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler to turn validation and HTTP errors into GeoReport errors."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            fmt = "xml" if request.url.path.endswith(".xml") else "json"
            try:
                return await handler(request)
            except RequestValidationError as exc:
                fields = ", ".join(sorted({e["field"] for e in error_fields(exc.errors())}))
                return render.error(fmt, 400, f"invalid parameter(s): {fields}")
            except HTTPException as exc:
                return render.error(fmt, exc.status_code, str(exc.detail), dict(exc.headers or {}))
            except SubmissionRefused as exc:
                return render.refusal(fmt, exc)

        return route


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)

Fmt = Annotated[Literal["json", "xml"], Path(description="Response format")]
Jurisdiction = Annotated[str | None, Query(max_length=64, description="Accepted and ignored")]
_XML = {"text/xml": {"schema": {"type": "string"}}}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Invalid parameters",
        403: "api_key missing or invalid, or not a web adapter's key",
        404: "Not found",
        413: "Body too large",
        429: "Over the adapter's rate limit; retry after Retry-After",
        503: "The bus (POST) or the database (GET) is unavailable; retry after Retry-After",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": list[Open311Error], "description": text[code], "content": _XML}
        if code in (429, 503):
            out[code]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return out


def _ok(description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": _XML}}


def _forbidden(exc: HTTPException) -> HTTPException:
    # GeoReport says 403 for a missing or invalid api_key (the JSON API says 401).
    return HTTPException(403, f"api_key: {exc.detail}") if exc.status_code == 401 else exc


def _reader(request: Request, api_key: str | None) -> Adapter:
    try:
        adapter: Adapter = request.app.state.guard.key_adapter(api_key)
    except HTTPException as exc:
        raise _forbidden(exc) from exc
    return adapter


async def _read(query: Awaitable[list[dict[str, Any]]], retry_after_s: int) -> list[dict[str, Any]]:
    try:
        async with asyncio.timeout(_DB_TIMEOUT_S):
            return await query
    except (OSError, TimeoutError, SQLAlchemyError) as exc:
        raise HTTPException(
            503, f"database unavailable: {type(exc).__name__}", {"Retry-After": str(retry_after_s)}
        ) from exc


def _service_info(service: catalogue.Service) -> dict[str, Any]:
    return ServiceInfo(
        service_code=service.code,
        service_name=service.name,
        description=service.description,
        keywords=",".join(service.keywords),
        group=catalogue.GROUP,
    ).model_dump()


@router.get(
    "/discovery.{format}",
    response_model=Discovery,
    responses={**_ok("The discovery document"), **_errors(400)},
    summary="Open311 service discovery",
)
async def discovery(format: Fmt, request: Request, resources: ResourcesDep) -> Response:
    """Where this GeoReport v2 endpoint is and which formats it speaks."""
    base = resources.settings.public_base_url.rstrip("/") or str(request.base_url).rstrip("/")
    doc = Discovery(
        changeset=CHANGESET,
        contact="12345 government-service hotline",
        key_service="Ask the hotline operator for a web adapter's API key",
        endpoints=[Endpoint(url=f"{base}/open311/v2", changeset=CHANGESET)],
    )
    return render.respond(format, doc.model_dump(), "discovery")


@router.get(
    "/services.{format}",
    response_model=list[ServiceInfo],
    responses={**_ok("The services"), **_errors(400)},
    summary="Open311 service list (the first-level categories)",
)
async def services(format: Fmt, jurisdiction_id: Jurisdiction = None) -> Response:
    """Every service: one per first-level category of the taxonomy."""
    return render.respond(format, [_service_info(s) for s in catalogue.services()], "services", "service")


@router.get(
    "/services/{service_code}.{format}",
    response_model=ServiceDefinition,
    responses={**_ok("The service definition"), **_errors(400, 404)},
    summary="Open311 service definition",
)
async def service_definition(
    service_code: Annotated[str, Path(max_length=64)], format: Fmt, jurisdiction_id: Jurisdiction = None
) -> Response:
    """The definition of a service; no service has extra attributes."""
    if catalogue.by_code(service_code) is None:
        raise HTTPException(404, f"service_code {service_code!r} not found")
    return render.respond(
        format, ServiceDefinition(service_code=service_code).model_dump(), "service_definition"
    )


# Where a WebSubmission error points, in the form's own field names.
_FORM_NAME = {
    "content": "description",
    "citizen.phone": "phone",
    "citizen.email": "email",
    "citizen.name": "first_name/last_name",
    "location.latitude": "lat",
    "location.longitude": "long",
    "location.address": "address_string",
    "attachments.0": "media_url",
}


def _form(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=False, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, f"body must be application/x-www-form-urlencoded UTF-8: {exc}") from exc
    # attribute[...] fields are allowed by the spec; no service defines attributes, so they are ignored.
    return {k: v for k, v in pairs if k in FORM_FIELD_NAMES}


def _number(form: dict[str, str], name: str) -> float | None:
    if name not in form:
        return None
    try:
        return float(form[name])
    except ValueError as exc:
        raise HTTPException(400, f"{name} must be a number") from exc


def _submission(form: dict[str, str]) -> WebSubmission:
    service = catalogue.by_code(form.get("service_code", ""))
    if service is None:
        raise HTTPException(400, f"service_code {form.get('service_code')!r} missing or not found")
    lat, lon = _number(form, "lat"), _number(form, "long")
    if not ((lat is not None and lon is not None) or form.get("address_string") or form.get("address_id")):
        raise HTTPException(400, "a location is required: lat and long, address_string or address_id")
    name = (form.get("last_name", "") + form.get("first_name", "")).strip()
    location = {"latitude": lat, "longitude": lon, "address": form.get("address_string")}
    body: dict[str, Any] = {
        "channel": "web",
        "content": form.get("description", ""),
        "category_hint": service.name,
        "citizen": {k: v for k, v in (("phone", form.get("phone")), ("email", form.get("email"))) if v},
        "location": {k: v for k, v in location.items() if v is not None},
        "form_fields": {"source": "open311"}
        | {k: form[k] for k in ("device_id", "account_id", "address_id") if form.get(k)},
    }
    if name:
        body["citizen"]["name"] = name
    if form.get("media_url"):
        body["attachments"] = [form["media_url"]]
    try:
        return WebSubmission.model_validate(body)
    except ValidationError as exc:
        fields = sorted({_FORM_NAME.get(e["field"], e["field"]) for e in error_fields(exc.errors())})
        raise HTTPException(400, f"invalid field(s): {', '.join(fields)}") from exc


@router.post(
    "/requests.{format}",
    response_model=list[TokenReply],
    responses={**_ok("A token, resolved by tokens/{token} once stored"), **_errors(400, 403, 413, 429, 503)},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": FORM_SCHEMA}},
        }
    },
    summary="Open311 create a service request (taken in as a web submission)",
)
async def create_request(format: Fmt, request: Request, resources: ResourcesDep) -> Response:
    """Take the request in as a web submission; answer with a token once the bus acknowledged it."""
    raw = await request.body()
    form = _form(raw)
    guard = request.app.state.guard
    adapter = _reader(request, form.get("api_key"))
    if adapter.signing_secret is not None:
        try:
            guard.signatures.verify(adapter, request, raw)
        except HTTPException as exc:
            raise _forbidden(exc) from exc
    submission = _submission(form)
    intake = intake_of(request)
    receipt = await intake.accept(resources, submission, adapter, request.headers.get(IDEMPOTENCY_HEADER))
    reply = TokenReply(token=receipt.ticket_id, service_notice="已受理 (received)").model_dump(
        exclude_none=True
    )
    return render.respond(format, [reply], "service_requests", "request")


def _request_view(row: dict[str, Any]) -> dict[str, Any]:
    sub = row.get("submission") or {}
    loc = sub.get("location") or {}
    attachments = sub.get("attachments") or []
    service = catalogue.by_name(row.get("category")) or catalogue.by_name(sub.get("category_hint"))
    address = " ".join(p for p in (row.get("district"), row.get("address")) if p) or None
    view = ServiceRequest(
        service_request_id=row["ticket_id"],
        status="closed" if row.get("status") in CLOSED_STATUSES else "open",
        service_name=service.name if service else row.get("category"),
        service_code=service.code if service else None,
        description=row.get("content"),
        agency_responsible=row.get("department"),
        requested_datetime=_w3c(row.get("received_at")),
        updated_datetime=_w3c(row.get("processed_at")),
        address=address,
        lat=loc.get("latitude"),
        long=loc.get("longitude"),
        media_url=str(attachments[0]) if attachments else None,
    )
    return view.model_dump()


def _w3c(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if value else None


def _list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@router.get(
    "/requests.{format}",
    response_model=list[ServiceRequest],
    responses={**_ok("Matching service requests, newest first"), **_errors(400, 403, 503)},
    summary="Open311 query service requests (filters and paging)",
)
async def list_requests(
    *,
    format: Fmt,
    request: Request,
    resources: ResourcesDep,
    api_key: Annotated[str | None, Query(max_length=256, description="Needed when keys are set")] = None,
    jurisdiction_id: Jurisdiction = None,
    service_request_id: Annotated[
        str | None, Query(max_length=2000, description="Comma-separated ids; other filters are then ignored")
    ] = None,
    service_code: Annotated[str | None, Query(max_length=1000, description="Comma-separated")] = None,
    start_date: Annotated[WindowTime | None, Query(description="Earliest requested_datetime")] = None,
    end_date: Annotated[WindowTime | None, Query(description="Latest requested_datetime")] = None,
    status: Annotated[str | None, Query(max_length=16, description="open, closed or open,closed")] = None,
    page: Annotated[int, Query(ge=1, le=10_000, description="Extension: page number, from 1")] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000, description="Extension: results per page")] = 100,
) -> Response:
    """Stored tickets as service requests; without dates the last 90 days (as the spec says)."""
    _reader(request, api_key)
    statuses = _list(status)
    if any(s not in ("open", "closed") for s in statuses):
        raise HTTPException(400, "status must be open, closed or open,closed")
    asked = _list(service_request_id)
    # Only ids this deployment issued can exist; the rest (including bytes Postgres refuses) match nothing.
    ids = [i for i in asked if is_issued_ticket_id(resources.settings.ticket_secret, i)]
    if asked and not ids:
        return render.respond(format, [], "service_requests", "request")
    if ids:
        where = RequestFilter(ticket_ids=ids[:1000], limit=1000)
    else:
        codes = _list(service_code)
        names = [s.name for c in codes if (s := catalogue.by_code(c)) is not None]
        if codes and not names:
            return render.respond(format, [], "service_requests", "request")
        start, end = _window(start_date, end_date)
        where = RequestFilter(
            categories=names,
            start=start,
            end=end,
            statuses=statuses,
            limit=page_size,
            offset=(page - 1) * page_size,
        )
    rows = await _read(find_requests(resources.engine, where), resources.settings.retry_after_s)
    return render.respond(format, [_request_view(r) for r in rows], "service_requests", "request")


# A window's edge: years 1970–9998, as the read API's (the calendar's edges overflow in Postgres).
WindowTime = Annotated[Timestamp, AfterValidator(within_years)]


def _aware(value: datetime | None) -> datetime | None:
    # Dates without an offset are taken as UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime | None]:
    start, end = _aware(start), _aware(end)
    if start is None:
        until = end or datetime.now(UTC)
        earliest = datetime.min.replace(tzinfo=UTC)
        start = until - DEFAULT_WINDOW if until - earliest > DEFAULT_WINDOW else earliest
    if end is not None and end < start:
        raise HTTPException(400, "end_date is before start_date")
    return start, end


@router.get(
    "/requests/{service_request_id}.{format}",
    response_model=list[ServiceRequest],
    responses={**_ok("The service request"), **_errors(400, 403, 404, 503)},
    summary="Open311 one service request",
)
async def get_request(
    *,
    service_request_id: Annotated[str, Path(max_length=64)],
    format: Fmt,
    request: Request,
    resources: ResourcesDep,
    api_key: Annotated[str | None, Query(max_length=256)] = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """The stored ticket as a service request; 404 until a worker stored it."""
    _reader(request, api_key)
    if not is_issued_ticket_id(resources.settings.ticket_secret, service_request_id):
        raise HTTPException(404, f"service_request_id {service_request_id!r} not found")
    where = RequestFilter(ticket_ids=[service_request_id], limit=1)
    rows = await _read(find_requests(resources.engine, where), resources.settings.retry_after_s)
    if not rows:
        raise HTTPException(404, f"service_request_id {service_request_id!r} not found (yet)")
    return render.respond(format, [_request_view(rows[0])], "service_requests", "request")


@router.get(
    "/tokens/{token}.{format}",
    response_model=list[TokenReply],
    responses={**_ok("The token, with service_request_id once stored"), **_errors(400, 404, 503)},
    summary="Open311 resolve a token to its service_request_id",
)
async def get_token(
    *,
    token: Annotated[str, Path(max_length=64)],
    format: Fmt,
    resources: ResourcesDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """`service_request_id` once the worker stored the ticket; only the token until then."""
    if not is_issued_ticket_id(resources.settings.ticket_secret, token):
        raise HTTPException(404, f"token {token!r} not found")
    where = RequestFilter(ticket_ids=[token], limit=1)
    rows = await _read(find_requests(resources.engine, where), resources.settings.retry_after_s)
    reply = TokenReply(token=token, service_request_id=rows[0]["ticket_id"] if rows else None)
    return render.respond(format, [reply.model_dump(exclude_none=True)], "service_requests", "request")
