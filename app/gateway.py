"""What the intake API adds to the app: adapter guard, submission service, limits, batch, WeChat and Open311
routes."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from app.auth import Guard, KeyBeforeBody
from app.limits import BodyLimit, FloodTracker, InvalidBudget
from app.open311 import routes as open311
from app.routes import batch, wechat
from app.submission import Intake
from app.wechat_crypto import WechatCrypto
from ingest.settings import Settings

log = logging.getLogger("jiesu.gateway")
WECHAT_MAX_BODY = 64 * 1024


def install(app: FastAPI, settings: Settings) -> None:
    """Attach the guard and flood tracker, the body limit, and the channel routes to `app`."""
    guard = Guard(settings)
    app.state.guard = guard
    app.state.intake = Intake(
        guard,
        FloodTracker(settings.flood_threshold, settings.flood_window_s),
        InvalidBudget(settings.invalid_rate_per_s, settings.invalid_burst),
    )
    app.state.wechat_token = settings.wechat_token
    app.state.wechat_crypto = (
        WechatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id)
        if settings.wechat_aes_key
        else None
    )
    app.add_middleware(
        BodyLimit,
        default_limit=settings.max_body_bytes,
        # A WeChat push is a few hundred bytes; a batch is up to 500 submissions.
        limits={
            "/v1/complaints/batch": settings.max_batch_body_bytes,
            "/v1/channels/wechat": WECHAT_MAX_BODY,
        },
    )
    # Outside the body limit: a request without a known key is refused before anything reads its body.
    app.add_middleware(KeyBeforeBody, paths=frozenset({"/v1/complaints", "/v1/complaints/batch"}))
    app.include_router(batch.router)
    app.include_router(wechat.router)
    app.include_router(open311.router)
    if guard.keys.open:
        log.warning(
            "gateway is OPEN: JIESU_API_KEYS is not set, so any caller may submit on any channel "
            "(fine for the embedded default; set JIESU_API_KEYS in any shared deployment)"
        )
    else:
        names = ", ".join(
            f"{a.name} ({a.channel}{', signs' if a.signing_secret else ''})" for a in guard.keys.adapters
        )
        log.info("gateway requires adapter API keys: %s", names)
    if not settings.wechat_token:
        log.info("WeChat callback disabled: JIESU_WECHAT_TOKEN is not set")
