"""Request-size limit (pure ASGI middleware), the citizen flood flag and the budget of invalid input; each
constant work per request."""

from __future__ import annotations

import time
from collections import OrderedDict

from prometheus_client import Counter
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.memory import give_back
from app.metrics import REJECTIONS
from app.problems import problem

FLAGGED = Counter("jiesu_gateway_flagged_total", "Accepted submissions flagged for review", ["reason"])
# Bound once: a flooding citizen's every item of a batch is flagged, and `labels()` takes a lock each call.
_FLOODING = FLAGGED.labels(reason="citizen_flood")


class BodyLimit:
    """Refuses bodies over the limit of their path with 413: at once by Content-Length, else while reading.

    Pure ASGI (no BaseHTTPMiddleware): it only wraps `receive`, so it costs a length check per chunk.
    """

    def __init__(self, app: ASGIApp, default_limit: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count what is received."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default_limit)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    REJECTIONS.labels(reason="too_large").inc()
                    response = problem(413, "Body too large", _too_large(limit))
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    REJECTIONS.labels(reason="too_large").inc()
                    # Raised inside the route's body read, so the app's handlers answer it (413 problem).
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, limited, send)
        # The request is answered and its objects freed: after a large body, the memory goes back.
        give_back(received)


def _too_large(limit: int) -> str:
    return f"request body over the limit of {limit} bytes; split it (batches: fewer items)"


class FloodTracker:
    """Flags a citizen who sends more than `threshold` distinct submissions within `window_s`.

    Per gateway process and bounded: the last `threshold + 1` submissions of at most `max_citizens`
    citizens (least recently seen forgotten first). A retry of the same ticket does not count twice.
    """

    def __init__(self, threshold: int, window_s: float, max_citizens: int = 100_000) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self._max = max_citizens
        # Per citizen, their recent tickets and when each was first seen, oldest first (a dict keeps
        # insertion order): "seen before?" is one lookup, not a scan of up to threshold + 1 entries for every
        # submission of a flooding citizen.
        self._recent: OrderedDict[str, dict[str, float]] = OrderedDict()

    def observe(self, citizen_key: str | None, ticket_id: str, now: float | None = None) -> int:
        """Record a submission; return how many distinct ones the citizen sent within the window."""
        if citizen_key is None:
            return 0
        clock = time.monotonic() if now is None else now
        seen = self._recent.get(citizen_key)
        if seen is None:
            seen = self._recent[citizen_key] = {}
            if len(self._recent) > self._max:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(citizen_key)
        while seen:
            oldest = next(iter(seen))
            if clock - seen[oldest] <= self.window_s:
                break
            del seen[oldest]
        if ticket_id not in seen:
            seen[ticket_id] = clock
            if len(seen) > self.threshold + 1:
                del seen[next(iter(seen))]
        return len(seen)

    def flag(self, citizen_key: str | None, ticket_id: str) -> str | None:
        """The review reason when this submission makes the citizen a flood, else None."""
        count = self.observe(citizen_key, ticket_id)
        if count <= self.threshold:
            return None
        _FLOODING.inc()
        return f"citizen flooding: more than {self.threshold} submissions within {self.window_s / 60:g} min"


class InvalidBudget:
    """Per adapter, how much invalid input it may still send: `burst` submissions, refilled at `rate`/s.

    An adapter that spends it has every submission refused (429) until one is back: a key spraying bad input,
    probing for a value the database refuses, is stopped at the gateway rather than by the workers'
    dead-letter cap, which stops processing for everyone. Adapters that send only valid input are not in the
    table at all, so the check on the accepting path is one dictionary miss.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        # adapter → (tokens spent, when last counted); dropped once refilled.
        self._spent: dict[str, tuple[float, float]] = {}

    def _outstanding(self, name: str, clock: float) -> float:
        spent, last = self._spent[name]
        spent = max(0.0, spent - (clock - last) * self.rate)
        if spent == 0.0:
            del self._spent[name]
        return spent

    def spend(self, name: str, count: int = 1, now: float | None = None) -> None:
        """Count `count` invalid submissions of adapter `name`."""
        if self.rate <= 0:
            return
        clock = time.monotonic() if now is None else now
        spent = self._outstanding(name, clock) if name in self._spent else 0.0
        self._spent[name] = (min(float(self.burst), spent + count), clock)

    def wait(self, name: str, now: float | None = None) -> float:
        """0 while `name` may submit; else the seconds until one invalid submission's worth is back."""
        if name not in self._spent:
            return 0.0
        spent = self._outstanding(name, time.monotonic() if now is None else now)
        if spent <= self.burst - 1:
            return 0.0
        return (spent - (self.burst - 1)) / self.rate
