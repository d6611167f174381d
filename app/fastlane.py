"""A pure-ASGI fast lane for the common `POST /v1/complaints`: a valid JSON submission, properly keyed.

Why: under load the gateway spent most of its CPU in FastAPI and Starlette (dependency solving, the request
object, the router, the middleware stack), not in the work itself (docs/performance.md, "Gateway"). This lane
answers the common request with the very functions the route uses — `Guard` (keys, signatures, rate limit),
`accept` (channel check, record, publish, 202/403/503) and the same HTTPException rendering — and skips the
framework around them.

It only *commits* to a request once everything that could make FastAPI answer differently without side
effects is known to be fine: method, path, a JSON content type, a declared length within the limit, a body
that validates as a `Submission`, an `Idempotency-Key` within its bound, a known key (on a keyed gateway).
Anything else falls through to the FastAPI app, with the body already read replayed to it, so every refusal
(401, 413, 422, …) is the framework's own answer, byte for byte. After committing, the steps with side effects
(signature nonce, rate limit, flood flag, publish) run once, in the route's order, and their refusals are
rendered by `http_problem`, the app's own HTTPException handler.
"""

from __future__ import annotations

from collections import deque

from fastapi.routing import APIRoute
from prometheus_client import Counter
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import ANONYMOUS, Adapter, Guard
from app.deps import Resources
from app.problems import http_problem, refusal_problem
from app.refusals import SubmissionRefused
from app.routes import complaints
from app.routes.complaints import accepted
from app.submission import Intake
from ingest.schemas.submission import AnySubmission, Submission

PATH = "/v1/complaints"
# The route's bound on the header (app/routes/complaints.py, IdempotencyKey): longer goes to FastAPI's 422.
MAX_IDEMPOTENCY_KEY = 128
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


def _bearer(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, exactly as FastAPI's HTTPBearer reads it."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out the messages already read, then the connection's own."""
    pending = deque(messages)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


def _submit_route() -> APIRoute:
    for route in complaints.router.routes:
        if isinstance(route, APIRoute) and route.endpoint is complaints.submit:
            return route
    raise LookupError("no POST /v1/complaints route")  # pragma: no cover - a refactoring mistake


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

    def eligible(self, max_body: int) -> bool:
        """A declared JSON body within the limit and a key header within its bound: worth reading."""
        # Chunked bodies and over-long ones are the body limit's to refuse; other media types FastAPI's.
        return (
            self.content_type is not None
            and _is_json(self.content_type)
            and self.length is not None
            and self.length.isdigit()
            and int(self.length) <= max_body
            and (self.idempotency_key is None or len(self.idempotency_key) <= MAX_IDEMPOTENCY_KEY)
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

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body
        # The route FastAPI would match, put in the scope so that metrics and logs name the same template.
        self.route = _submit_route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the common case, or pass the request on (replaying what was read)."""
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = _Headers(scope["headers"])
        if not headers.eligible(self.max_body):
            _PASSED.inc()
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        adapter = self._adapter(scope, headers.authorization) if body is not None else None
        submission = self._validate(body) if body is not None and adapter is not None else None
        if body is None or adapter is None or submission is None:
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
        key = _bearer(authorization.decode("latin-1") if authorization is not None else None)
        return guard.keys.lookup(key) if key else None

    @staticmethod
    def _validate(body: bytes) -> AnySubmission | None:
        """The submission, or None when FastAPI would refuse it (its 422 is then the answer)."""
        try:
            return _SUBMISSION.validate_json(body)
        except ValidationError:
            return None
