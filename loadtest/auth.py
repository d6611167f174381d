"""Credentials of the simulated adapters: an API key per channel, and HMAC request signing where required.

Formats are the gateway's own (`JIESU_API_KEYS` = `name:channel:key,…`, `JIESU_SIGNING_SECRETS` =
`name:secret,…`), so a staging deployment's values can be handed over as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from loadtest.plan import CHANNELS


@dataclass(frozen=True)
class AdapterKey:
    """One adapter's key for one channel, and its signing secret if it must sign."""

    name: str
    key: str
    signing_secret: str | None = None


def parse_keys(api_keys: str, signing_secrets: str = "") -> dict[str, AdapterKey]:
    """Channel → the adapter key to use for it; ValueError naming a malformed entry."""
    secrets_by_name: dict[str, str] = {}
    for entry in filter(None, (p.strip() for p in signing_secrets.split(","))):
        name, sep, secret = entry.partition(":")
        if not sep or not name or not secret:
            raise ValueError(f"signing secret entry {name!r}: want name:secret")
        secrets_by_name[name] = secret
    out: dict[str, AdapterKey] = {}
    for entry in filter(None, (p.strip() for p in api_keys.split(","))):
        parts = entry.split(":", 2)
        if len(parts) != 3 or parts[1] not in CHANNELS or not parts[0] or not parts[2]:
            raise ValueError(
                f"API key entry {parts[0]!r}: want name:channel:key with channel one of {CHANNELS}"
            )
        name, channel, key = parts
        out.setdefault(channel, AdapterKey(name, key, secrets_by_name.get(name)))
    return out


def headers_for(adapter: AdapterKey | None, method: str, path: str, body: bytes) -> dict[str, str]:
    """The authentication headers of one request (none when the gateway is open)."""
    if adapter is None:
        return {}
    headers = {"authorization": f"Bearer {adapter.key}"}
    if adapter.signing_secret:
        stamp, nonce = str(int(time.time())), secrets.token_urlsafe(18)
        signed = f"{stamp}\n{nonce}\n{method}\n{path}\n".encode() + body
        digest = hmac.new(adapter.signing_secret.encode(), signed, hashlib.sha256).hexdigest()
        headers |= {
            "x-jiesu-timestamp": stamp,
            "x-jiesu-nonce": nonce,
            "x-jiesu-signature": f"sha256={digest}",
        }
    return headers
