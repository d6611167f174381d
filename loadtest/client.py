"""The HTTP side: posting a plan's requests to the gateway, and checking the target is this machine."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from types import TracebackType
from urllib.parse import urlsplit

import httpx
import orjson

from loadtest.auth import AdapterKey, headers_for
from loadtest.bodies import Messages
from loadtest.http1 import Http1Pool, ProtocolError
from loadtest.results import Reply

SUBMIT_PATH = "/v1/complaints"
_LOCAL_NAMES = {"localhost", "localhost.localdomain"}


def is_loopback(url: str) -> bool:
    """True when `url` names this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urlsplit(url).hostname or ""
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GatewaySender:
    """Posts request i's body to the gateway over kept-alive connections, one per request in flight."""

    def __init__(
        self,
        target: str,
        messages: Messages,
        *,
        timeout_s: float,
        run_id: str,
        keys: dict[str, AdapterKey] | None = None,
    ) -> None:
        self.messages = messages
        self.plan = messages.plan
        self.keys = keys or {}
        self.timeout_s = timeout_s
        self.pool = Http1Pool(target)
        self.headers = {
            "Content-Type": "application/json",
            "User-Agent": "jiesu-loadtest/1",
            "X-Loadtest-Run": run_id,
        }

    async def __aenter__(self) -> GatewaySender:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.pool.aclose()

    async def __call__(self, request: int) -> Reply:
        """Send plan request `request`; never raises for what the network or the server does."""
        body = self.messages.body(int(self.plan.msg[request]))
        auth = headers_for(self.keys.get(self.plan.channel_of(request)), "POST", SUBMIT_PATH, body)
        try:
            async with asyncio.timeout(self.timeout_s):
                resp = await self.pool.request("POST", SUBMIT_PATH, body, self.headers | auth)
        except TimeoutError:
            return Reply(None, error="timeout")
        except (OSError, ProtocolError) as exc:
            return Reply(None, error=f"transport: {type(exc).__name__}")
        ticket = None
        if resp.status == 202:
            try:
                ticket = orjson.loads(resp.body).get("ticket_id")
            except (orjson.JSONDecodeError, AttributeError):
                return Reply(resp.status, None, error="202 without a ticket id")
        return Reply(resp.status, ticket)


async def wait_ready(target: str, timeout_s: float) -> str | None:
    """Poll the gateway's /readyz until it answers 200; None when ready, else the last problem seen."""
    problem = "not tried"
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=target, timeout=5) as http:
        while True:
            try:
                resp = await http.get("/readyz")
                if resp.status_code == 200:
                    return None
                problem = f"/readyz answered {resp.status_code}: {resp.text[:200]}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                return problem
            await asyncio.sleep(0.5)
