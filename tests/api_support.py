"""Shared helpers of the intake-API tests: adapter keys, a gateway on the in-process bus, signed requests."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from app.main import create_app
from ingest.bus import BusMessage
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessBroker
from ingest.schemas.records import IntakeRecord
from ingest.settings import Settings
from ingest.topics import INTAKE, INTAKE_URGENT

WEB_KEY = "web-portal-key-0123456789abcdef"
WECHAT_KEY = "wechat-backend-key-0123456789abc"
PHONE_KEY = "callcentre-key-0123456789abcdef"
SIGNED_KEY = "signed-portal-key-0123456789abcd"
SIGNING_SECRET = "hmac-secret-of-the-signed-portal-0123"
API_KEYS = f"portal:web:{WEB_KEY},wx:wechat:{WECHAT_KEY},calls:phone:{PHONE_KEY},signed:web:{SIGNED_KEY}"
KEY_OF = {"web": WEB_KEY, "wechat": WECHAT_KEY, "phone": PHONE_KEY}
WECHAT_TOKEN = "wechat-callback-token"
UNREACHABLE_DB = "postgresql+asyncpg://nobody@127.0.0.1:1/none"


def settings(**overrides: Any) -> Settings:
    """Embedded-bus settings with the test adapters' keys (overrides win)."""
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": "",
        "database_url": UNREACHABLE_DB,
        "api_keys": API_KEYS,
        "signing_secrets": f"signed:{SIGNING_SECRET}",
        "wechat_token": WECHAT_TOKEN,
    }
    values.update(overrides)
    return Settings(**values)


def bearer(key: str) -> dict[str, str]:
    """The Authorization header of `key`."""
    return {"Authorization": f"Bearer {key}"}


def signed_headers(
    body: bytes,
    path: str = "/v1/complaints",
    *,
    secret: str = SIGNING_SECRET,
    stamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Headers of a request of the signing adapter, signed as docs/adapters.md says."""
    stamp = int(time.time()) if stamp is None else stamp
    nonce = nonce or uuid.uuid4().hex
    signed = f"{stamp}\n{nonce}\nPOST\n{path}\n".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {
        **bearer(SIGNED_KEY),
        "Content-Type": "application/json",
        "X-Jiesu-Timestamp": str(stamp),
        "X-Jiesu-Nonce": nonce,
        "X-Jiesu-Signature": f"sha256={digest}",
    }


@asynccontextmanager
async def gateway(
    config: Settings, broker: InProcessBroker | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, InProcessBroker, FastAPI]]:
    """The gateway app on an in-process broker, running its lifespan; yields (client, broker, app)."""
    broker = broker or in_process_broker(config)
    app = create_app(config, broker=broker)
    # The unit tests' database is unreachable: WeChat pushes are remembered in memory instead.
    app.state.wechat_ledger = MemoryPushLedger()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as http:
            yield http, broker, app


class MemoryPushLedger:
    """app/wechat_replay.py's ledger in this process's memory (one gateway process: the unit tests)."""

    def __init__(self) -> None:
        self.seen: dict[str, bytes] = {}

    async def is_replay(self, timestamp: str, nonce: str, body: bytes) -> bool:
        """True when this timestamp and nonce came before with another body."""
        digest = hashlib.sha256(body).digest()
        return self.seen.setdefault(f"{timestamp}:{nonce}", digest) != digest


def accepted_records(broker: InProcessBroker) -> list[BusMessage]:
    """Every record the gateway put on an intake topic: the normal lane's, then the urgent lane's."""
    return broker.records(INTAKE.name) + broker.records(INTAKE_URGENT.name)


def wechat_record(ticket_id: str, content: str = "海淀区学院路路口的红绿灯坏了两天了") -> IntakeRecord:
    """An intake record of one WeChat citizen (`wx:o1`), received now."""
    return IntakeRecord(
        ticket_id=ticket_id,
        channel="wechat",
        external_id=ticket_id,
        received_at=datetime.now(UTC),
        content=content,
        citizen_key="wx:o1",
        trace_id=uuid.uuid4().hex,
        submission={"channel": "wechat", "content": content},
    )
