"""Every error as `application/problem+json` (RFC 9457), with the failing field paths on validation.

`install` registers the handlers and rewrites the OpenAPI document so that every error response is declared
with the media type and schema it really has (`Problem`), which is what the schemathesis test holds us to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.metrics import REJECTIONS
from app.refusals import (
    ChannelRefused,
    InvalidSubmission,
    NotAcceptedYet,
    RateLimited,
    SubmissionRefused,
    error_fields,
    summary,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("jiesu.gateway")

_TITLES = {404: "Not found", 405: "Method not allowed", 413: "Body too large", 429: "Too many requests"}


class FieldError(BaseModel):
    """One failing field: its dotted path into the body (or query), what is wrong, pydantic's error type."""

    field: str = Field(
        examples=["citizen.phone"], description="Dotted path of the field in the body (or query)"
    )
    message: str = Field(
        examples=["Value error, not a valid mobile (1xxxxxxxxxx) or landline phone number"],
        description="What is wrong with it",
    )
    type: str = Field(examples=["value_error"], description="pydantic's error type, for programs to match on")


class Problem(BaseModel):
    """An error as RFC 9457 problem details; `errors` names the failing fields of a refused submission."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Invalid submission",
                    "status": 422,
                    "detail": "1 problem(s) in: citizen.phone",
                    "errors": [{"field": "citizen.phone", "message": "…", "type": "value_error"}],
                }
            ]
        },
    )

    type: str = Field(default="about:blank", description="A URI naming the kind of problem (RFC 9457)")
    title: str = Field(description="A short summary of the kind of problem")
    status: int = Field(description="The HTTP status code, as in the response")
    detail: str = Field(description="What went wrong with this request")
    errors: list[FieldError] | None = Field(
        default=None, description="The failing fields of a refused submission or query, when there are any"
    )


def json_bytes(body: Any) -> bytes:
    """JSON of `body` that survives any string a client sent (lone surrogates are escaped, not a 500)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, ensure_ascii=True, default=str).encode("ascii")


def render(body: Any, status: int, headers: dict[str, str] | None, media_type: str) -> Response:
    """A JSON response of `body`."""
    return Response(json_bytes(body), status_code=status, media_type=media_type, headers=headers)


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """A problem-details response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return render(body, status, headers, PROBLEM_JSON)


def field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """Validation errors as `{field, message, type}`, the field as a dotted path into the body."""
    return error_fields(exc.errors())


# The one mapping of the submission service's refusals to HTTP (Open311 renders the same statuses in its own
# error format, but for invalid input, which GeoReport answers with 400).
REFUSAL_STATUS: dict[type[SubmissionRefused], int] = {
    InvalidSubmission: 422,
    ChannelRefused: 403,
    RateLimited: 429,
    NotAcceptedYet: 503,
}
_REFUSAL_TITLE = {
    InvalidSubmission: "Invalid submission",
    ChannelRefused: "Forbidden",
    RateLimited: "Too many requests",
    NotAcceptedYet: "Service unavailable",
}


def refusal_status(refusal: SubmissionRefused) -> int:
    """The HTTP status of a refusal."""
    return REFUSAL_STATUS[type(refusal)]


def refusal_headers(refusal: SubmissionRefused) -> dict[str, str]:
    """The headers a refusal's answer carries: when to retry, and with which key."""
    headers: dict[str, str] = {}
    if isinstance(refusal, RateLimited | NotAcceptedYet):
        headers["Retry-After"] = str(refusal.retry_after_s)
    if isinstance(refusal, NotAcceptedYet) and refusal.idempotency_key is not None:
        headers["Idempotency-Key"] = refusal.idempotency_key
    return headers


def refusal_body(refusal: SubmissionRefused) -> dict[str, Any]:
    """A refusal as a problem-details body (batch results carry it per item)."""
    status = refusal_status(refusal)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _REFUSAL_TITLE[type(refusal)],
        "status": status,
        "detail": refusal.detail,
    }
    if isinstance(refusal, InvalidSubmission):
        body["errors"] = refusal.errors
    elif isinstance(refusal, NotAcceptedYet) and refusal.idempotency_key is not None:
        body["idempotency_key"] = refusal.idempotency_key
    return body


def refusal_problem(refusal: SubmissionRefused) -> Response:
    """A refusal as its problem-details response (the app's handler, and the fast lane, answer with it)."""
    body = refusal_body(refusal)
    return render(body, body["status"], refusal_headers(refusal) or None, PROBLEM_JSON)


async def _refusal_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SubmissionRefused)
    return refusal_problem(exc)


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc)
    REJECTIONS.labels(reason="validation").inc()
    # A submission's body (the adapter was authenticated first): counted against its budget of invalid input.
    adapter = getattr(request.state, "adapter", None)
    if adapter is not None:
        request.app.state.intake.invalid(adapter)
    return problem(422, "Invalid submission", summary(errors), errors=errors)


async def _http_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return http_problem(exc)


def http_problem(exc: StarletteHTTPException) -> Response:
    """The problem response of an HTTPException, as the app's handler answers (the fast lane too)."""
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's answer to a JSON body that is not UTF-8; invalid JSON is a 422, and so is this.
        REJECTIONS.labels(reason="validation").inc()
        errors = [{"field": "(body)", "message": "body is not UTF-8 JSON", "type": "json_invalid"}]
        return problem(422, "Invalid submission", summary(errors), errors=errors)
    if exc.status_code < 500:
        REJECTIONS.labels(reason=f"http_{exc.status_code}").inc()
    title = _TITLES.get(exc.status_code) or HTTPStatus(exc.status_code).phrase
    return problem(exc.status_code, title, str(exc.detail), headers=dict(exc.headers or {}))


# The database not answering: refused, reset, timed out, gone mid-statement, or the pool exhausted waiting for
# it. A read or a status change cannot be served now and a retry may well be: 503 with Retry-After, not a 500
# (which says there is a bug). Programming errors (bad SQL, a value the column refuses) stay 500s.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,  # TimeoutError and the refused or reset connections of asyncpg included
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)


def database_unavailable_detail(exc: Exception) -> str:
    """What the client is told: the kind of failure only (an exception's text may quote a query's values)."""
    return f"database unavailable: {type(exc).__name__}"


async def _database_handler(request: Request, exc: Exception) -> Response:
    if isinstance(exc, OSError) and exc.filename is not None:
        # A file the gateway could not read (a deployment's mistake), not the database: a bug's 500.
        return await _crash_handler(request, exc)
    REJECTIONS.labels(reason="database_unavailable").inc()
    log.warning("database unavailable", extra={"route": request.url.path, "error": type(exc).__name__})
    retry = str(request.app.state.resources.settings.retry_after_s)
    return problem(
        503,
        "Service unavailable",
        f"{database_unavailable_detail(exc)}; retry",
        headers={"Retry-After": retry},
    )


def _only_unavailable(exc: Exception) -> Exception | None:
    """The first database failure of a task group whose every failure is one (reports query in parallel)."""
    if not isinstance(exc, ExceptionGroup):
        return None
    _, rest = exc.split(DATABASE_UNAVAILABLE)
    if rest is not None:
        return None
    leaf: Exception = exc
    while isinstance(leaf, ExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


async def _group_handler(request: Request, exc: Exception) -> Response:
    if (unavailable := _only_unavailable(exc)) is None:
        raise exc  # on to the crash handler: a 500, logged
    return await _database_handler(request, unavailable)


async def _crash_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "Internal Server Error", "unexpected error; it has been logged")


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying (same external_id / Idempotency-Key)",
        "schema": {"type": "integer", "minimum": 1},
        "required": True,
    }
}
_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or unknown API key, or a bad request signature",
    403: "The key belongs to another channel, or a bad channel signature",
    404: "Not found",
    413: "Body larger than the gateway's limit",
    422: "Invalid request: `errors` lists the failing fields",
    429: "This adapter's rate limit is exceeded; retry after `Retry-After` seconds",
    503: "The bus did not acknowledge in time (or is down); nothing was accepted; retry after `Retry-After`",
}


def problem_responses(
    *codes: int, descriptions: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, as problem details (429/503 with Retry-After)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        text = (descriptions or {}).get(code) or _DESCRIPTIONS.get(code) or HTTPStatus(code).phrase
        # Explicit content, whatever the route's own response class (text/plain, XML) is.
        entry: dict[str, Any] = {"description": text, "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}
        if code in (429, 503):
            entry["headers"] = _RETRY_AFTER
        out[code] = entry
    return out


def _own_errors(responses: dict[str, Any]) -> bool:
    body = responses.get("400", {}).get("content", {}).get("application/json", {}).get("schema")
    return body is not None and body != _PROBLEM_REF


def _as_problem_json(schema: dict[str, Any]) -> None:
    """Declare error responses with the media type they really have (FastAPI writes application/json)."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if _own_errors(responses):
                # An API family with its own error format (Open311) reports invalid input as its 400.
                responses.pop("422", None)
            for code, response in responses.items():
                content = response.get("content")
                if not content or not str(code).startswith(("4", "5")):
                    continue
                body = content.get("application/json", {}).get("schema")
                if body == _PROBLEM_REF:
                    content[PROBLEM_JSON] = content.pop("application/json")
                elif code == "422" and body == {"$ref": "#/components/schemas/HTTPValidationError"}:
                    # FastAPI's default 422; ours is a problem.
                    response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
                    response["description"] = _DESCRIPTIONS[422]
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" not in components:
        components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(components["Problem"].pop("$defs", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in components and f'"#/components/schemas/{unused}"' not in json.dumps(schema["paths"]):
            del components[unused]


def install(app: FastAPI) -> None:
    """Register the problem-details handlers on `app` and make its OpenAPI document say so."""
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(SubmissionRefused, _refusal_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_handler)
    app.add_exception_handler(ExceptionGroup, _group_handler)
    app.add_exception_handler(Exception, _crash_handler)
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _as_problem_json(generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
