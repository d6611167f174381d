"""A pure-ASGI fast lane for the common `POST /v1/complaints`: a valid JSON submission, properly keyed.

Why: under load the gateway spent most of its CPU in FastAPI and Starlette (dependency solving, the request
object, the router, the middleware stack), not in the work itself (docs/performance.md, "Gateway"). This lane
answers the common request with the very functions the route uses — `Guard` (keys, signatures), the
submission service (`Intake.accept`: rate, channel, record, publish) and the same renderings of refusals and
HTTPExceptions — and skips the framework around them.

It is fenced: its path and limits are read from the route and the body limit (`lane_spec`), and the gateway
does not start when the route has a dependency or a parameter, or a middleware sits inside the lane, that the
lane does not stand in for (`LaneOutOfStep`): teach the lane first, then add it to LANE_DEPENDENCIES,
LANE_PARAMETERS or LANE_INNER_MIDDLEWARE.

It only *commits* to a request once everything that could make FastAPI answer differently without side
effects is known to be fine: method, path, a JSON content type, a declared length within the limit, a body
that validates as a `Submission`, an `Idempotency-Key` within its bound, a known key (on a keyed gateway).
Anything else falls through to the FastAPI app, with the body already read replayed to it, so every refusal
(401, 413, 422, …) is the framework's own answer, byte for byte. After committing, the steps with side effects
(signature nonce, rate limit, flood flag, publish) run once, in the route's order, and their refusals are
rendered by the app's own handlers (`refusal_problem`, `http_problem`).
"""

from __future__ import annotations

import inspect
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import annotated_types
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from prometheus_client import Counter
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import ANONYMOUS, Adapter, Guard, bearer_key
from app.deps import Resources
from app.problems import http_problem, refusal_problem
from app.refusals import SubmissionRefused
from app.routes import complaints
from app.routes.complaints import accepted
from app.submission import Intake
from ingest.schemas.submission import AnySubmission, Submission

# One validator built at import: FastAPI validates the same `Submission` type from the parsed body.
_SUBMISSION: TypeAdapter[AnySubmission] = TypeAdapter(Submission)
FAST_LANE = Counter(
    "jiesu_gateway_fast_lane_total",
    "POST /v1/complaints requests the fast lane served itself, or passed on to the FastAPI route",
    ["outcome"],
)
# Bound once: `labels()` per request costs a lock and a dict lookup.
_SERVED, _PASSED = FAST_LANE.labels(outcome="served"), FAST_LANE.labels(outcome="passed")


def _is_json(content_type: bytes) -> bool:
    # What FastAPI reads as JSON, narrowed to the plain media type (any `+json` or oddity goes to FastAPI).
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json"


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out the messages already read, then the connection's own."""
    pending = deque(messages)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


class LaneOutOfStep(RuntimeError):
    """The route has something the lane does not do: the gateway refuses to start rather than skip it."""


# Everything the route runs before its endpoint that the lane does itself, by qualified name: the adapter's
# key and signature (`authenticate`, which reads the bearer header through `HTTPBearer`) and the resources.
LANE_DEPENDENCIES = frozenset(
    {"app.auth.authenticate", "fastapi.security.http.HTTPBearer", "app.deps._resources"}
)
# The request's parts the lane reads: the Idempotency-Key header and the body (a `Submission`).
LANE_PARAMETERS = frozenset({("header", "idempotency-key"), ("body", "submission")})
# The middleware inside the lane (added before it) that it stands in for: the body limit, by passing over-long
# bodies on; the key check before the body, by looking the key up before reading the body and passing unknown
# keys on. Middleware added after the lane wraps it and runs for the lane's requests too.
LANE_INNER_MIDDLEWARE = frozenset({"BodyLimit", "KeyBeforeBody"})


@dataclass(frozen=True)
class LaneSpec:
    """What the lane takes from the route and the app: where it listens and its limits."""

    route: APIRoute
    path: str
    max_idempotency_key: int
    max_body: int


def _qualified(call: object) -> str:
    named = call if inspect.isfunction(call) or inspect.isclass(call) else type(call)
    return f"{named.__module__}.{named.__qualname__}"


def _dependants(dependant: Dependant) -> list[Dependant]:
    return [dependant, *(d for sub in dependant.dependencies for d in _dependants(sub))]


def _submit_route(api: FastAPI) -> RouteContext:
    # The route as the app serves it: with the dependencies of every router and include it sits under.
    for context in iter_route_contexts(api.routes):
        if context.endpoint is complaints.submit:
            return context
    raise LaneOutOfStep("no POST /v1/complaints route (app/routes/complaints.py, submit)")


def _max_length(field: Any) -> int:
    found = [m.max_length for m in field.field_info.metadata if isinstance(m, annotated_types.MaxLen)]
    if len(found) != 1:
        raise LaneOutOfStep(f"the route's {field.alias} header has no single max_length")
    return int(found[0])


def lane_spec(api: FastAPI) -> LaneSpec:
    """The lane's path and limits, read from the route and the body limit; LaneOutOfStep when the route or the
    middleware inside the lane have anything the lane would skip."""
    route = _submit_route(api)
    path, dependant = route.path, route.dependant
    if route.methods != {"POST"} or not path or not isinstance(dependant, Dependant):
        raise LaneOutOfStep(f"the route answers {route.methods} on {path}, the lane POST only")
    tree = _dependants(dependant)
    calls = {_qualified(d.call) for d in tree[1:] if d.call is not None}
    if calls != LANE_DEPENDENCIES:
        raise LaneOutOfStep(f"route dependencies {sorted(calls ^ LANE_DEPENDENCIES)} differ from the lane's")
    params = [
        (kind, field)
        for d in tree
        for kind, fields in (
            ("header", d.header_params),
            ("query", d.query_params),
            ("cookie", d.cookie_params),
            ("path", d.path_params),
            ("body", d.body_params),
        )
        for field in fields
    ]
    names = {(kind, field.alias) for kind, field in params}
    if names != LANE_PARAMETERS:
        raise LaneOutOfStep(f"route parameters {sorted(names ^ LANE_PARAMETERS)} differ from the lane's")
    [key_field] = [field for kind, field in params if kind == "header"]
    stack: list[object] = [m.cls for m in api.user_middleware]
    inner = api.user_middleware[stack.index(FastLane) + 1 :] if FastLane in stack else api.user_middleware
    unknown = {getattr(m.cls, "__name__", repr(m.cls)) for m in inner} - LANE_INNER_MIDDLEWARE
    if unknown:
        raise LaneOutOfStep(f"middleware {sorted(unknown)} inside the fast lane would be skipped by it")
    [limit] = [m.kwargs for m in inner if getattr(m.cls, "__name__", "") == "BodyLimit"]
    # BodyLimit's own arguments (app/gateway.py): the limit of this path, else its default.
    limits = cast(dict[str, int], limit.get("limits") or {})
    max_body = limits.get(path, cast(int, limit["default_limit"]))
    original = route.original_route
    assert isinstance(original, APIRoute)
    return LaneSpec(original, path, _max_length(key_field), max_body)


class _Headers:
    """The headers the lane looks at, the first of each as Starlette's `Headers.get` (so FastAPI) takes it."""

    __slots__ = ("authorization", "content_type", "idempotency_key", "length")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        found: dict[bytes, bytes] = {}
        for name, value in raw:
            if name in _WANTED and name not in found:
                found[name] = value
        self.length = found.get(b"content-length")
        self.content_type = found.get(b"content-type")
        self.authorization = found.get(b"authorization")
        self.idempotency_key = found.get(b"idempotency-key")

    def eligible(self, max_body: int, max_key: int) -> bool:
        """A declared JSON body within the limit and a key header within its bound: worth reading."""
        # Chunked bodies and over-long ones are the body limit's to refuse; other media types FastAPI's.
        return (
            self.content_type is not None
            and _is_json(self.content_type)
            and self.length is not None
            and self.length.isdigit()
            and int(self.length) <= max_body
            and (self.idempotency_key is None or len(self.idempotency_key) <= max_key)
        )


_WANTED = frozenset({b"content-length", b"content-type", b"authorization", b"idempotency-key"})


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """Every message of the request body, and the body (None when the client went away meanwhile)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, chunks[0] if len(chunks) == 1 else b"".join(chunks)


class FastLane:
    """Handles valid, well-keyed `POST /v1/complaints` itself; everything else goes to `app` unchanged."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        # Built with the middleware stack, once every route and middleware is in place.
        self.spec = lane_spec(api)
        self.path = self.spec.path
        # The route FastAPI would match, put in the scope so that metrics and logs name the same template.
        self.route = self.spec.route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the common case, or pass the request on (replaying what was read)."""
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = _Headers(scope["headers"])
        if not headers.eligible(self.spec.max_body, self.spec.max_idempotency_key):
            _PASSED.inc()
            await self.app(scope, receive, send)
            return
        # The key before the body: an unknown one is refused by the app (KeyBeforeBody) without reading it.
        adapter = self._adapter(scope, headers.authorization)
        if adapter is None:
            _PASSED.inc()
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        submission = self._validate(body) if body is not None else None
        if body is None or submission is None:
            _PASSED.inc()
            await self.app(scope, _replaying(messages, receive), send)
            return
        # Committed: from here on every step runs once, in the route's order.
        _SERVED.inc()
        scope["route"] = self.route
        scope["endpoint"] = self.route.endpoint
        scope["path_params"] = {}
        state = scope["app"].state
        guard: Guard = state.guard
        intake: Intake = state.intake
        resources: Resources = state.resources
        key = headers.idempotency_key.decode("latin-1") if headers.idempotency_key is not None else None
        try:
            if adapter.signing_secret is not None:
                guard.signatures.verify(adapter, Request(scope), body)
            receipt = await intake.accept(resources, submission, adapter, key)
            response = accepted(receipt.ticket_id, resources.settings.public_base_url)
        except HTTPException as exc:
            response = http_problem(exc)
        except SubmissionRefused as exc:
            response = refusal_problem(exc)
        await response(scope, receive, send)

    @staticmethod
    def _adapter(scope: Scope, authorization: bytes | None) -> Adapter | None:
        """The caller's adapter when its key is known (or the gateway is open), else None: FastAPI's 401."""
        guard: Guard = scope["app"].state.guard
        if guard.keys.open:
            return ANONYMOUS
        key = bearer_key(authorization.decode("latin-1") if authorization is not None else None)
        return guard.keys.lookup(key) if key else None

    @staticmethod
    def _validate(body: bytes) -> AnySubmission | None:
        """The submission, or None when FastAPI would refuse it (its 422 is then the answer)."""
        try:
            return _SUBMISSION.validate_json(body)
        except ValidationError:
            return None
