"""A small, bounded, open-loop load driver: `rate` submissions a second for `duration` seconds, to 127.0.0.1.

Open loop: request i is sent at start + i/rate whether or not earlier ones were answered (a slow or failing
gateway does not slow the offered load down, as real adapters would not). Bounded in count (rate × duration),
in time (each request has a client timeout) and in concurrency (beyond `max_outstanding`, a request is
recorded as not sent). Every submission is distinct (its own external id and citizen), so each one that is
answered 202 must become exactly one stored ticket; its expected ticket id is known before it is sent.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import httpx

from ingest.tickets import idempotency_key_for, new_ticket_id

CHANNELS = ("web", "wechat", "phone")


def complaint(run_id: str, index: int) -> dict[str, Any]:
    """A valid submission of one of the three channels, unique to (run_id, index)."""
    channel = CHANNELS[index % len(CHANNELS)]
    phone = f"139{(index * 7919 + zlib.crc32(run_id.encode())) % 10**8:08d}"
    text = f"[{run_id}#{index}] 海淀区学院路{index % 97}号楼下的路灯坏了一个星期了，晚上很黑，请尽快修理。"
    external_id = f"{run_id}-{index}"
    if channel == "web":
        return {
            "channel": "web",
            "external_id": external_id,
            "title": "路灯不亮",
            "content": text,
            "citizen": {"phone": phone},
            "location": {"district": "海淀区"},
        }
    if channel == "wechat":
        return {
            "channel": "wechat",
            "external_id": external_id,
            "content": text,
            "citizen": {"wechat_openid": f"o{run_id}x{index}"},
        }
    return {
        "channel": "phone",
        "external_id": external_id,
        "call": {
            "call_id": external_id,
            "caller": phone,
            "duration_s": 60,
            "transcript": [{"speaker": "citizen", "text": text, "confidence": 0.9}],
        },
    }


@dataclass
class Outcome:
    """What became of one request."""

    index: int
    channel: str
    external_id: str
    expected_ticket_id: str
    sent_at: float  # seconds since the load started
    status: int | None = None
    latency_s: float | None = None
    ticket_id: str | None = None
    error: str | None = None  # transport error (connection refused, timeout, ...) or "not sent"

    @property
    def answered(self) -> bool:
        """True when the gateway answered with an HTTP status."""
        return self.status is not None


@dataclass
class OpenLoopLoad:
    """One bounded run of load against a gateway."""

    base_url: str
    run_id: str
    rate_per_s: float
    duration_s: float
    ticket_secret: str = "jiesu-dev-ticket-secret"
    timeout_s: float = 10.0
    max_outstanding: int = 256
    outcomes: list[Outcome] = field(default_factory=list)
    started_at: float = 0.0
    _task: asyncio.Task[None] | None = None
    _stopped: bool = False

    @property
    def total(self) -> int:
        """Requests this run sends."""
        return int(self.rate_per_s * self.duration_s)

    def now(self) -> float:
        """Seconds since the load started."""
        return time.monotonic() - self.started_at

    def start(self) -> None:
        """Start sending in the background."""
        self.started_at = time.monotonic()
        self._task = asyncio.create_task(self._run(), name=f"load-{self.run_id}")

    def stop_sending(self) -> None:
        """Send nothing more (requests already sent are still awaited): ends an open-ended run early."""
        self._stopped = True

    async def wait(self) -> list[Outcome]:
        """Wait for every request to be answered (or to fail); the outcomes."""
        assert self._task is not None, "start() first"
        await self._task
        return self.outcomes

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.max_outstanding, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s, limits=limits) as http:
            in_flight: set[asyncio.Task[None]] = set()
            for index in range(self.total):
                delay = self.started_at + index / self.rate_per_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._stopped:
                    break
                body = complaint(self.run_id, index)
                outcome = Outcome(
                    index=index,
                    channel=body["channel"],
                    external_id=body["external_id"],
                    expected_ticket_id=new_ticket_id(
                        self.ticket_secret, idempotency_key_for(body["channel"], body["external_id"], None)
                    ),
                    sent_at=self.now(),
                )
                self.outcomes.append(outcome)
                if len(in_flight) >= self.max_outstanding:
                    outcome.error = "not sent: client saturated"
                    continue
                task = asyncio.create_task(self._send(http, body, outcome))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if in_flight:
                await asyncio.gather(*in_flight)

    async def _send(self, http: httpx.AsyncClient, body: dict[str, Any], outcome: Outcome) -> None:
        started = time.monotonic()
        try:
            resp = await http.post("/v1/complaints", json=body)
        except httpx.HTTPError as exc:
            outcome.error = type(exc).__name__
            outcome.latency_s = time.monotonic() - started
            return
        outcome.latency_s = time.monotonic() - started
        outcome.status = resp.status_code
        if resp.status_code == 202:
            outcome.ticket_id = resp.json()["ticket_id"]

    # --- summaries --------------------------------------------------------------------------------------

    def accepted(self) -> list[Outcome]:
        """Requests answered 202."""
        return [o for o in self.outcomes if o.status == 202]

    def with_status(self, status: int) -> list[Outcome]:
        """Requests answered with `status`."""
        return [o for o in self.outcomes if o.status == status]

    def unexpected(self) -> list[Outcome]:
        """Requests answered with something other than 202/503, or not answered at all."""
        return [o for o in self.outcomes if o.status not in (202, 503)]

    def first_accepted_after(self, moment: float) -> Outcome | None:
        """The first request sent at or after `moment` (load seconds) that was answered 202."""
        later = [o for o in self.accepted() if o.sent_at >= moment]
        return min(later, key=lambda o: o.sent_at + (o.latency_s or 0), default=None)
