"""Open311 GeoReport v2 under `/open311/v2/`: discovery, services, requests (POST, GET), tokens.

POST requests is the GeoReport adapter of the submission service (app/submission.py): the form becomes a web
submission (the `api_key`, from the form or the query string, is a web adapter's key), accepted only after
the bus acknowledged it and answered with a `token`, which `tokens/{token}` resolves to the
`service_request_id` once a worker stored the ticket. The submitted `service_code` is kept on the ticket
(`tickets.service_code`) and is what GET requests serves and filters on; the classifier's category stays on
the jiesu API. GET requests and requests/{id} are public, as the spec has them, and show only the spec's
public fields (no name, phone, email or openid); they and tokens/{token}, which read the database, are
rate-limited per client address (JIESU_PUBLIC_READ_RATE_PER_S). A `jurisdiction_id` other than this gateway's
is 404.
Every answer is JSON or XML as the path's suffix asks, and every error — unknown paths under `/open311/v2/`
included — is a GeoReport error list (`[{"code", "description"}]`) with the HTTP status as its code.
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

from app.auth import Adapter, charge_public_read
from app.deps import Resources, ResourcesDep
from app.open311 import catalogue, render
from app.open311.models import (
    FORM_FIELD_NAMES,
    FORM_SCHEMA,
    MAX_DESCRIPTION,
    Discovery,
    Endpoint,
    Open311Error,
    ServiceDefinition,
    ServiceInfo,
    ServiceRequest,
    TokenReply,
)
from app.open311.queries import CLOSED_STATUSES, RequestFilter, find_requests
from app.personal_data import shown
from app.problems import DATABASE_UNAVAILABLE, database_unavailable_detail
from app.refusals import InvalidSubmission, SubmissionRefused, error_fields
from app.routes.complaints import intake_of
from app.routes.downstream import within_years
from app.submission import IDEMPOTENCY_HEADER, refused
from ingest.schemas.submission import Timestamp, WebSubmission
from ingest.tickets import is_issued_ticket_id

CHANGESET = "2026-12-07T00:00:00Z"
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
Jurisdiction = Annotated[
    str | None,
    Query(
        max_length=64, description="This gateway's jurisdiction (JIESU_OPEN311_JURISDICTION); another is 404"
    ),
]
_XML = {"text/xml": {"schema": {"type": "string"}}}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Invalid parameters",
        403: "api_key missing or invalid, or not a web adapter's key",
        404: "Not found, or a jurisdiction_id this gateway does not serve",
        413: "Body too large",
        429: "Over the adapter's rate (POST) or the client address's public read rate (GET); retry after "
        "Retry-After",
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


def _submitter(request: Request, api_key: str | None) -> Adapter:
    try:
        adapter: Adapter = request.app.state.guard.key_adapter(api_key)
    except HTTPException as exc:
        raise _forbidden(exc) from exc
    return adapter


def _served(resources: Resources, jurisdiction_id: str | None) -> None:
    """404 for a jurisdiction this gateway does not serve (none named: this one)."""
    if jurisdiction_id and jurisdiction_id != resources.settings.open311_jurisdiction:
        raise HTTPException(404, f"jurisdiction_id {jurisdiction_id!r} is not served here")


async def _read(query: Awaitable[list[dict[str, Any]]], retry_after_s: int) -> list[dict[str, Any]]:
    try:
        async with asyncio.timeout(_DB_TIMEOUT_S):
            return await query
    except DATABASE_UNAVAILABLE as exc:
        # GeoReport's error format, so not the app's problem+json handler of the same errors.
        raise HTTPException(
            503, database_unavailable_detail(exc), {"Retry-After": str(retry_after_s)}
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
    responses={**_ok("The services"), **_errors(400, 404)},
    summary="Open311 service list (the first-level categories)",
)
async def services(format: Fmt, resources: ResourcesDep, jurisdiction_id: Jurisdiction = None) -> Response:
    """Every service: one per first-level category of the taxonomy."""
    _served(resources, jurisdiction_id)
    return render.respond(format, [_service_info(s) for s in catalogue.services()], "services", "service")


@router.get(
    "/services/{service_code}.{format}",
    response_model=ServiceDefinition,
    responses={**_ok("The service definition"), **_errors(400, 404)},
    summary="Open311 service definition",
)
async def service_definition(
    service_code: Annotated[str, Path(max_length=64)],
    format: Fmt,
    resources: ResourcesDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """The definition of a service; no service has extra attributes."""
    _served(resources, jurisdiction_id)
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


def _invalid(field: str, message: str) -> InvalidSubmission:
    return InvalidSubmission([{"field": field, "message": message, "type": "value_error"}])


def _number(form: dict[str, str], name: str) -> float | None:
    if name not in form:
        return None
    try:
        return float(form[name])
    except ValueError as exc:
        raise refused(_invalid(name, "must be a number")) from exc


def _submission(form: dict[str, str]) -> WebSubmission:
    """The form as a web submission; InvalidSubmission naming the form's fields when it is not a valid one."""
    service = catalogue.by_code(form.get("service_code", ""))
    if service is None:
        raise refused(_invalid("service_code", f"{form.get('service_code')!r} missing or not found"))
    description = form.get("description", "")
    if len(description) > MAX_DESCRIPTION:
        raise refused(_invalid("description", f"longer than {MAX_DESCRIPTION} characters"))
    lat, lon = _number(form, "lat"), _number(form, "long")
    if not ((lat is not None and lon is not None) or form.get("address_string") or form.get("address_id")):
        raise refused(_invalid("location", "required: lat and long, address_string or address_id"))
    name = (form.get("last_name", "") + form.get("first_name", "")).strip()
    location = {"latitude": lat, "longitude": lon, "address": form.get("address_string")}
    body: dict[str, Any] = {
        "channel": "web",
        # The description is optional: without one the service's name is the complaint's text.
        "content": description if description.strip() else service.name,
        "category_hint": service.name,
        "citizen": {k: v for k, v in (("phone", form.get("phone")), ("email", form.get("email"))) if v},
        "location": {k: v for k, v in location.items() if v is not None},
        # `source` and `service_code` make the ticket's service_code column (migrations/versions/0007).
        "form_fields": {"source": "open311", "service_code": service.code}
        | {k: form[k] for k in ("device_id", "account_id", "address_id") if form.get(k)},
    }
    if name:
        body["citizen"]["name"] = name
    if form.get("media_url"):
        body["attachments"] = [form["media_url"]]
    try:
        return WebSubmission.model_validate(body)
    except ValidationError as exc:
        errors = error_fields(exc.errors())
        for error in errors:
            error["field"] = _FORM_NAME.get(error["field"], error["field"])
        raise refused(InvalidSubmission(errors)) from exc


@router.post(
    "/requests.{format}",
    response_model=list[TokenReply],
    responses={
        **_ok("A token, resolved by tokens/{token} once stored"),
        **_errors(400, 403, 404, 413, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": FORM_SCHEMA}},
        }
    },
    summary="Open311 create a service request (taken in as a web submission)",
)
async def create_request(
    format: Fmt,
    request: Request,
    resources: ResourcesDep,
    api_key: Annotated[str | None, Query(max_length=256, description="Or in the form body")] = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """Take the request in as a web submission; answer with a token once the bus acknowledged it."""
    raw = await request.body()
    form = _form(raw)
    _served(resources, form.get("jurisdiction_id") or jurisdiction_id)
    adapter = _submitter(request, form.get("api_key") or api_key)
    if adapter.signing_secret is not None:
        try:
            request.app.state.guard.signatures.verify(adapter, request, raw)
        except HTTPException as exc:
            raise _forbidden(exc) from exc
    intake = intake_of(request)
    try:
        submission = _submission(form)
    except InvalidSubmission:
        intake.invalid(adapter)  # against the key's budget of invalid input, as on the JSON API
        raise
    receipt = await intake.accept(resources, submission, adapter, request.headers.get(IDEMPOTENCY_HEADER))
    reply = TokenReply(token=receipt.ticket_id, service_notice="已受理 (received)").model_dump(
        exclude_none=True
    )
    return render.respond(format, [reply], "service_requests", "request")


def _public(resources: Resources, rows: list[dict[str, Any]], route: str) -> list[dict[str, Any]]:
    """Rows as the public reads them: personal numbers in the texts masked, the read audited."""
    return shown(resources.settings, rows, reader="public", verified=False, route=route)


def _request_view(row: dict[str, Any]) -> dict[str, Any]:
    sub = row.get("submission") or {}
    loc = sub.get("location") or {}
    attachments = sub.get("attachments") or []
    # The service the client submitted (tickets.service_code), never the classifier's category.
    code = row.get("service_code")
    service = catalogue.by_code(code) if code else None
    address = " ".join(p for p in (row.get("district"), row.get("address")) if p) or None
    view = ServiceRequest(
        service_request_id=row["ticket_id"],
        status="closed" if row.get("status") in CLOSED_STATUSES else "open",
        service_name=service.name if service else None,
        service_code=code,
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
    responses={**_ok("Matching service requests, newest first"), **_errors(400, 404, 429, 503)},
    summary="Open311 query service requests (filters and paging)",
)
async def list_requests(
    *,
    format: Fmt,
    request: Request,
    resources: ResourcesDep,
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
    """Stored tickets as service requests (public: no key needed, public fields only, rate-limited per
    client address); without dates the last 90 days (as the spec says)."""
    charge_public_read(request)
    _served(resources, jurisdiction_id)
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
        asked_codes = _list(service_code)
        codes = [c for c in asked_codes if catalogue.by_code(c) is not None]
        if asked_codes and not codes:
            return render.respond(format, [], "service_requests", "request")
        start, end = _window(start_date, end_date)
        where = RequestFilter(
            service_codes=codes,
            start=start,
            end=end,
            statuses=statuses,
            limit=page_size,
            offset=(page - 1) * page_size,
        )
    rows = await _read(find_requests(resources.engine, where), resources.settings.retry_after_s)
    rows = _public(resources, rows, "/open311/v2/requests")
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
    responses={**_ok("The service request"), **_errors(400, 404, 429, 503)},
    summary="Open311 one service request",
)
async def get_request(
    *,
    service_request_id: Annotated[str, Path(max_length=64)],
    format: Fmt,
    request: Request,
    resources: ResourcesDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """The stored ticket as a service request (public and rate-limited, as GET requests); 404 until a worker
    stored it."""
    charge_public_read(request)
    _served(resources, jurisdiction_id)
    if not is_issued_ticket_id(resources.settings.ticket_secret, service_request_id):
        raise HTTPException(404, f"service_request_id {service_request_id!r} not found")
    where = RequestFilter(ticket_ids=[service_request_id], limit=1)
    rows = await _read(find_requests(resources.engine, where), resources.settings.retry_after_s)
    if not rows:
        raise HTTPException(404, f"service_request_id {service_request_id!r} not found (yet)")
    [row] = _public(resources, rows, "/open311/v2/requests/{service_request_id}")
    return render.respond(format, [_request_view(row)], "service_requests", "request")


@router.get(
    "/tokens/{token}.{format}",
    response_model=list[TokenReply],
    responses={**_ok("The token, with service_request_id once stored"), **_errors(400, 404, 429, 503)},
    summary="Open311 resolve a token to its service_request_id",
)
async def get_token(
    *,
    token: Annotated[str, Path(max_length=64)],
    format: Fmt,
    request: Request,
    resources: ResourcesDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """`service_request_id` once the worker stored the ticket; only the token until then (public and
    rate-limited, as GET requests)."""
    charge_public_read(request)
    _served(resources, jurisdiction_id)
    if not is_issued_ticket_id(resources.settings.ticket_secret, token):
        raise HTTPException(404, f"token {token!r} not found")
    where = RequestFilter(ticket_ids=[token], limit=1)
    rows = await _read(find_requests(resources.engine, where), resources.settings.retry_after_s)
    reply = TokenReply(token=token, service_request_id=rows[0]["ticket_id"] if rows else None)
    return render.respond(format, [reply.model_dump(exclude_none=True)], "service_requests", "request")


@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unknown(rest: str, request: Request) -> Response:
    """Anything else under /open311/v2/, in GeoReport's error format: 405 on a known path, else 404."""
    allowed = sorted(
        method
        for route in router.routes
        if isinstance(route, APIRoute)
        and route.endpoint is not unknown
        and route.path_regex.match(request.url.path)
        for method in route.methods or ()
    )
    if allowed:
        raise HTTPException(405, f"{request.method} is not allowed here", {"Allow": ", ".join(allowed)})
    raise HTTPException(404, f"no GeoReport v2 resource {rest!r}")
