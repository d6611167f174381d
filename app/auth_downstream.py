"""Authentication of downstream systems (dispatch, dashboards, the warehouse) on the read and status API.

Downstream systems are not channel adapters: an adapter's key submits complaints on one channel, a downstream
key reads tickets and moves them on their lifecycle. Keys come from `JIESU_DOWNSTREAM_KEYS`
(`name:key,…`, a key at least 16 characters) and are sent as `Authorization: Bearer <key>`; the name is what
the status history records as the actor. With no keys configured the API is open (the embedded default, like
`JIESU_API_KEYS`) and the actor is the `X-Jiesu-Actor` header or `anonymous`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from app.auth import charge_read
from ingest.settings import parse_downstream_keys


class DownstreamKeys:
    """The configured keys, compared as SHA-256 digests in constant time."""

    def __init__(self, spec: str) -> None:
        self._entries = [
            (hashlib.sha256(key.encode()).digest(), name) for name, key in parse_downstream_keys(spec).items()
        ]

    @property
    def open(self) -> bool:
        """True when no key is configured."""
        return not self._entries

    def lookup(self, key: str) -> str | None:
        """The name of the system whose key this is."""
        presented = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found = None
        for digest, name in self._entries:
            if hmac.compare_digest(presented, digest):
                found = name
        return found


def _keys(request: Request) -> DownstreamKeys:
    keys = getattr(request.app.state, "downstream_keys", None)
    if keys is None:
        keys = DownstreamKeys(request.app.state.resources.settings.downstream_keys)
        request.app.state.downstream_keys = keys
    assert isinstance(keys, DownstreamKeys)
    return keys


def downstream_system(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_jiesu_actor: Annotated[str | None, Header(max_length=64)] = None,
) -> str:
    """The calling downstream system's name; 401 when keys are configured and none of them was sent."""
    keys = _keys(request)
    if keys.open:
        return x_jiesu_actor or "anonymous"
    scheme, _, token = (authorization or "").partition(" ")
    name = keys.lookup(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if name is None:
        raise HTTPException(
            401,
            "a downstream key is required: Authorization: Bearer <key> (JIESU_DOWNSTREAM_KEYS)",
            headers={"WWW-Authenticate": 'Bearer realm="jiesu-downstream"'},
        )
    return name


DownstreamDep = Annotated[str, Depends(downstream_system)]


@dataclass(frozen=True, slots=True)
class DownstreamReader:
    """A downstream system reading tickets: its name, and whether its key proved it (an open API only has
    the name the caller claimed)."""

    name: str
    verified: bool


def downstream_reader(request: Request, name: DownstreamDep) -> DownstreamReader:
    """The calling downstream system as a reader of tickets, charged one read (when its key proved it: on an
    open API the name is anyone's to claim)."""
    verified = not _keys(request).open
    if verified:
        charge_read(request, f"downstream system {name!r}")
    return DownstreamReader(name, verified)


DownstreamReaderDep = Annotated[DownstreamReader, Depends(downstream_reader)]
