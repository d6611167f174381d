"""Adapter authentication: per-adapter API keys bound to a channel, optional HMAC body signatures.

Keys come from `JIESU_API_KEYS` (`name:channel:key,…`) and are sent as `Authorization: Bearer <key>`. A key
is looked up by comparing SHA-256 digests with `hmac.compare_digest` against every configured key, so the
time taken says nothing about how much of a key was right. Adapters named in `JIESU_SIGNING_SECRETS` must
also sign each request: `X-Jiesu-Signature: sha256=<hex HMAC-SHA256(secret, signed)>` where `signed` is
`<X-Jiesu-Timestamp>\\n<X-Jiesu-Nonce>\\n<METHOD>\\n<path>\\n` followed by the raw body; the timestamp must be
within `signature_window_s` of the gateway's clock and a nonce is accepted once (per gateway process).
With no keys configured the gateway is open: every caller is the anonymous adapter, on any channel.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from app.metrics import REJECTIONS
from app.problems import http_problem
from ingest.settings import Settings, parse_api_keys, parse_signing_secrets
from ingest.token_buckets import TokenBuckets

SIGNATURE_HEADER = "x-jiesu-signature"
TIMESTAMP_HEADER = "x-jiesu-timestamp"
NONCE_HEADER = "x-jiesu-nonce"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Nonces remembered per process; at the default window this covers ~300 signed requests/s per process.
NONCE_CACHE_SIZE = 200_000
# Client addresses with a public read bucket, per process (about 100 bytes each).
PUBLIC_READERS = 100_000


@dataclass(frozen=True)
class Adapter:
    """Who is calling: an adapter's name and the one channel its key may submit on (None = any)."""

    name: str
    channel: str | None
    signing_secret: str | None = None


ANONYMOUS = Adapter(name="anonymous", channel=None)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class KeyRing:
    """The configured adapter keys; empty means the gateway is open."""

    def __init__(self, api_keys: str, signing_secrets: str) -> None:
        secrets = parse_signing_secrets(signing_secrets)
        self._entries = [
            (_digest(key), Adapter(name, channel, secrets.get(name)))
            for name, channel, key in parse_api_keys(api_keys)
        ]
        unknown = set(secrets) - {adapter.name for _, adapter in self._entries}
        if unknown:
            raise ValueError(f"signing secrets for adapters without an API key: {', '.join(sorted(unknown))}")

    @property
    def open(self) -> bool:
        """True when no key is configured (the embedded default)."""
        return not self._entries

    @property
    def adapters(self) -> list[Adapter]:
        """The configured adapters."""
        return [adapter for _, adapter in self._entries]

    def lookup(self, key: str) -> Adapter | None:
        """The adapter whose key this is, comparing against every key in constant time."""
        presented = _digest(key)
        found = None
        for digest, adapter in self._entries:
            if hmac.compare_digest(presented, digest):
                found = adapter
        return found


class NonceCache:
    """Nonces seen within the signature window, oldest first; bounded, constant work per request."""

    def __init__(self, ttl_s: float, max_entries: int = NONCE_CACHE_SIZE) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, nonce: str, now: float) -> bool:
        """Remember `nonce`; False when it was already seen within the window (a replay)."""
        seen = self._seen
        while seen:
            oldest, expires = next(iter(seen.items()))
            if expires > now:
                break
            del seen[oldest]
        if nonce in seen:
            return False
        seen[nonce] = now + self._ttl_s
        if len(seen) > self._max:
            seen.popitem(last=False)
        return True


def _unauthorised(detail: str) -> HTTPException:
    REJECTIONS.labels(reason="unauthenticated").inc()
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="jiesu"'})


class Signatures:
    """Verifies the HMAC body signature of adapters that sign, with a timestamp window and a nonce cache."""

    def __init__(self, window_s: int) -> None:
        self._window_s = window_s
        # A nonce must be remembered as long as its timestamp stays acceptable: up to twice the window.
        self._nonces = NonceCache(ttl_s=2 * window_s)

    def verify(self, adapter: Adapter, request: Request, body: bytes, now: float | None = None) -> None:
        """Raise 401 unless the request carries a fresh, unused, valid signature of `adapter`."""
        assert adapter.signing_secret is not None
        headers = request.headers
        signature = headers.get(SIGNATURE_HEADER, "")
        stamp = headers.get(TIMESTAMP_HEADER, "")
        nonce = headers.get(NONCE_HEADER, "")
        if not (signature and stamp and nonce):
            raise _unauthorised(
                f"adapter {adapter.name!r} must sign: X-Jiesu-Timestamp, X-Jiesu-Nonce, X-Jiesu-Signature"
            )
        if not stamp.isdecimal() or not _NONCE.match(nonce):
            raise _unauthorised(
                "X-Jiesu-Timestamp must be Unix seconds, X-Jiesu-Nonce 16-64 of [A-Za-z0-9_-]"
            )
        clock = time.time() if now is None else now
        if abs(clock - int(stamp)) > self._window_s:
            raise _unauthorised(f"X-Jiesu-Timestamp is more than {self._window_s}s from the gateway's clock")
        signed = f"{stamp}\n{nonce}\n{request.method}\n{request.url.path}\n".encode() + body
        expected = "sha256=" + hmac.new(adapter.signing_secret.encode(), signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass")):
            raise _unauthorised("X-Jiesu-Signature does not match the body")
        # Only a valid signature consumes its nonce, so garbage cannot fill the cache.
        if not self._nonces.first_time(f"{adapter.name}:{nonce}", time.monotonic()):
            raise _unauthorised("X-Jiesu-Nonce was already used: a replayed request")


class Guard:
    """What a request is checked against: keys, signatures, rate limits."""

    def __init__(self, settings: Settings) -> None:
        self.keys = KeyRing(settings.api_keys, settings.signing_secrets)
        self.signatures = Signatures(settings.signature_window_s)
        self.buckets = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.reads = TokenBuckets(settings.read_rate_per_s, settings.read_burst)
        # Keyed by client addresses, which anyone can vary: the table's bound is what keeps it small.
        self.public_reads = TokenBuckets(
            settings.public_read_rate_per_s, settings.public_read_burst, max_names=PUBLIC_READERS
        )

    def key_adapter(self, key: str | None) -> Adapter:
        """The adapter of a presented key (ANONYMOUS on an open gateway); 401 when missing or unknown."""
        if self.keys.open:
            return ANONYMOUS
        if not key:
            raise _unauthorised("missing API key: send Authorization: Bearer <key>")
        adapter = self.keys.lookup(key)
        if adapter is None:
            raise _unauthorised("unknown API key")
        return adapter

    def charge(self, adapter: Adapter, cost: int = 1) -> float:
        """Take `cost` submissions from the adapter's rate: 0 when taken, else the seconds to wait (the open
        gateway's anonymous caller has no rate)."""
        if adapter is ANONYMOUS:
            return 0.0
        return self.buckets.take(adapter.name, cost)


def bearer_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, exactly as FastAPI's HTTPBearer reads it."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


class KeyBeforeBody:
    """Refuses a submission without a known adapter key (401) before its body is read.

    FastAPI reads and parses a body before it runs the route's dependencies, so a caller without any key could
    make the gateway read and parse a 16 MB batch only to be told 401. Pure ASGI: on the submission paths it
    looks at one header; everything else passes straight through.
    """

    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """401 at once for an unknown key on a submission path; else on to the app."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            guard: Guard = scope["app"].state.guard
            if not guard.keys.open:
                header = next((v for n, v in scope["headers"] if n == b"authorization"), None)
                try:
                    guard.key_adapter(bearer_key(header.decode("latin-1") if header is not None else None))
                except HTTPException as exc:
                    await http_problem(exc)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="adapterKey",
    description="The adapter's API key (JIESU_API_KEYS); adapters configured to sign also send "
    "X-Jiesu-Timestamp, X-Jiesu-Nonce and X-Jiesu-Signature (see docs/adapters.md)",
)


def guard_of(request: Request) -> Guard:
    """The app's Guard (created by app.gateway.install)."""
    guard: Guard = request.app.state.guard
    return guard


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Adapter:
    """The calling adapter: key checked, and the signature when it signs (the submission service charges
    its rate)."""
    guard = guard_of(request)
    adapter = guard.key_adapter(credentials.credentials if credentials else None)
    if adapter.signing_secret is not None:
        guard.signatures.verify(adapter, request, await request.body())
    # For the handler of an invalid body, which counts it against this adapter's budget of invalid input.
    request.state.adapter = adapter
    return adapter


def _charge(buckets: TokenBuckets, reader: str, reason: str) -> None:
    """Take one read from `reader`'s bucket; 429 with Retry-After (whole seconds), counted, when over."""
    wait = buckets.take(reader)
    if wait:
        REJECTIONS.labels(reason=reason).inc()
        retry = str(max(1, math.ceil(wait)))
        raise HTTPException(429, f"{reader} is over its read rate", headers={"Retry-After": retry})


def charge_read(request: Request, reader: str) -> None:
    """Take one read from `reader`'s read rate (in this gateway process); 429 with Retry-After when over."""
    _charge(guard_of(request).reads, reader, "read_rate_limited")


def client_network(host: str) -> str:
    """Who a keyless caller is, for its rate: its IPv4 address, or its IPv6 address's /64 (one host is
    usually given a whole /64, and could otherwise take a fresh bucket for every request)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an address (a test client's name, a Unix socket): the name is the caller
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def charge_public_read(request: Request) -> None:
    """Take one read from the calling address's public read rate (Open311's keyless reads, in this gateway
    process); 429 with Retry-After when over. Behind a proxy the address is the one uvicorn takes from
    X-Forwarded-For when the proxy is among FORWARDED_ALLOW_IPS (loopback by default)."""
    host = request.client.host if request.client else "unknown"
    _charge(guard_of(request).public_reads, f"client {client_network(host)}", "public_read_rate_limited")


async def authenticate_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Adapter:
    """The calling adapter of a read: any valid key, no signature; charged one read (not the open gateway's
    anonymous caller, who stands for everyone)."""
    adapter = guard_of(request).key_adapter(credentials.credentials if credentials else None)
    if adapter is not ANONYMOUS:
        charge_read(request, f"adapter {adapter.name!r}")
    return adapter


AdapterDep = Annotated[Adapter, Depends(authenticate)]
ReaderDep = Annotated[Adapter, Depends(authenticate_reader)]
