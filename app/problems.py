"""Every error as `application/problem+json` (RFC 9457), with the failing field paths on validation."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.metrics import REJECTIONS

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A problem-details response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Validation errors as `{field, message, type}`, the field as a dotted path into the body."""
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part != "body"]
        out.append(
            {"field": ".".join(loc) or "(body)", "message": err.get("msg", ""), "type": err.get("type", "")}
        )
    return out


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc)
    REJECTIONS.labels(reason="validation").inc()
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem(422, "Invalid submission", f"{len(errors)} problem(s) in: {fields}", errors=errors)


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code < 500:
        REJECTIONS.labels(reason=f"http_{exc.status_code}").inc()
    title = {404: "Not found", 405: "Method not allowed", 413: "Body too large"}.get(exc.status_code, "Error")
    return problem(exc.status_code, title, str(exc.detail), headers=dict(exc.headers or {}))


def install(app: FastAPI) -> None:
    """Register the problem-details handlers on `app`."""
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
