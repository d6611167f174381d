"""`/v1/channels/wechat`: the WeChat official account's server callback (URL verification and message push).

Configure the account's server URL as `https://<gateway>/v1/channels/wechat` with the token of
`JIESU_WECHAT_TOKEN`, in plaintext mode, or in encrypted mode (安全模式) with `JIESU_WECHAT_AES_KEY` and
`JIESU_WECHAT_APP_ID` as well (app/wechat_crypto.py). A push is taken in like any other WeChat submission
(same ticket ids, same idempotency by MsgId, same acknowledgement rule: the submission service) and answered
with a passive text reply carrying the ticket number, or saying why the message was not taken when it is not
a valid submission; when the bus does not acknowledge in time (or the callback is over its rate) the answer is
the JSON API's 503 (429) and nothing was accepted.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from app.auth import Adapter
from app.deps import Resources, ResourcesDep
from app.metrics import REJECTIONS
from app.problems import problem_responses
from app.refusals import InvalidSubmission, RateLimited, error_fields
from app.routes.complaints import intake_of
from app.submission import refused
from app.wechat import (
    INVALID_TEXT,
    SUBMISSION_TYPES,
    TOO_FAST_TEXT,
    UNSUPPORTED_TEXT,
    accepted_text,
    parse_push,
    parse_submission,
    signature_ok,
    text_reply,
)
from app.wechat_crypto import WechatCrypto, WechatCryptoError
from app.wechat_replay import PostgresPushLedger, PushLedger
from ingest.settings import Settings
from ingest.token_buckets import TokenBuckets

router = APIRouter(prefix="/v1/channels/wechat", tags=["channels"])

XML = "application/xml"
# The callback as the submission service sees it: WeChat's servers are one caller (one adapter rate bucket,
# besides each user's own: wechat_openid_per_minute), and submit on the WeChat channel only.
CALLBACK = Adapter(name="wechat-callback", channel="wechat")
# WeChat waits 5 s for an answer: the replay check and the bus's acknowledgement (JIESU_PRODUCE_TIMEOUT_S,
# 2 s) must both fit, so a database that hangs is given up on like one that refuses.
LEDGER_TIMEOUT_S = 2.0

Signature = Annotated[str, Query(max_length=64, description="sha1 of the sorted token, timestamp and nonce")]
Timestamp = Annotated[str, Query(max_length=16)]
Nonce = Annotated[str, Query(max_length=64)]


def _check(request: Request, signature: str, timestamp: str, nonce: str, max_age_s: int) -> None:
    token = request.app.state.wechat_token
    if not token:
        raise HTTPException(404, "the WeChat callback is not enabled (JIESU_WECHAT_TOKEN)")
    if not signature_ok(token, signature, timestamp, nonce):
        REJECTIONS.labels(reason="wechat_signature").inc()
        raise HTTPException(403, "bad WeChat signature")
    # After the signature: only a caller who knows the token learns that the time was the problem.
    if not (timestamp.isdecimal() and abs(time.time() - int(timestamp)) <= max_age_s):
        REJECTIONS.labels(reason="wechat_stale").inc()
        raise HTTPException(403, f"WeChat timestamp outside ±{max_age_s} s of the gateway's clock")


def _ledger(request: Request, resources: Resources) -> PushLedger:
    """The app's ledger of pushes seen (Postgres, shared by every gateway process)."""
    ledger: PushLedger | None = getattr(request.app.state, "wechat_ledger", None)
    if ledger is None:
        ledger = PostgresPushLedger(resources.engine, resources.settings.wechat_max_age_s * 2)
        request.app.state.wechat_ledger = ledger
    return ledger


def _openid_buckets(request: Request, settings: Settings) -> TokenBuckets:
    buckets: TokenBuckets | None = getattr(request.app.state, "wechat_openids", None)
    if buckets is None:
        buckets = TokenBuckets(settings.wechat_openid_per_minute / 60, settings.wechat_openid_burst)
        request.app.state.wechat_openids = buckets
    return buckets


async def _refuse_replay(
    request: Request, resources: Resources, timestamp: str, nonce: str, body: bytes
) -> None:
    try:
        async with asyncio.timeout(LEDGER_TIMEOUT_S):
            replay = await _ledger(request, resources).is_replay(timestamp, nonce, body)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        # Fail closed: without the ledger a replay cannot be told from a first push, and a leaked callback URL
        # would file complaints under any openid. Nothing is accepted, so nothing is lost; WeChat retries a
        # little, then the citizen is told to try again (docs/runbook.md, section 7).
        REJECTIONS.labels(reason="wechat_replay_check_unavailable").inc()
        retry = str(resources.settings.retry_after_s)
        raise HTTPException(503, "the WeChat replay check is unavailable", {"Retry-After": retry}) from exc
    if replay:
        REJECTIONS.labels(reason="wechat_replay").inc()
        raise HTTPException(
            403, "a replayed WeChat callback: this timestamp and nonce came with another body"
        )


@router.get(
    "",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "The echostr, echoed",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **problem_responses(403, 404, 422, descriptions={403: "Bad signature", 404: "Callback not enabled"}),
    },
    summary="WeChat server URL verification",
)
async def verify(
    *,
    request: Request,
    signature: Signature,
    timestamp: Timestamp,
    nonce: Nonce,
    echostr: Annotated[str, Query(max_length=128)],
) -> Any:
    """Echo `echostr` when the signature proves the caller knows the token, and the timestamp is fresh."""
    _check(request, signature, timestamp, nonce, request.app.state.resources.settings.wechat_max_age_s)
    return PlainTextResponse(echostr)


_PUSH_BODY = {
    "required": True,
    "content": {
        XML: {
            "schema": {"type": "string"},
            "example": "<xml><ToUserName><![CDATA[gh_3c884a361561]]></ToUserName>"
            "<FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>"
            "<CreateTime>1717000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            "<Content><![CDATA[海淀区学院路路口的红绿灯坏了两天了]]></Content>"
            "<MsgId>24525861735218432</MsgId></xml>",
        }
    },
}


@router.post(
    "",
    response_class=Response,
    responses={
        200: {
            "description": "The passive text reply: the ticket number, or why the message was not "
            "taken (`success` for events)",
            "content": {XML: {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}},
        },
        **problem_responses(
            400,
            403,
            404,
            413,
            422,
            429,
            503,
            descriptions={
                400: "Not a WeChat XML push (or encrypted mode not configured)",
                403: "Bad signature",
            },
        ),
    },
    openapi_extra={"requestBody": _PUSH_BODY},
    summary="WeChat message push: take the message in, reply with the ticket number",
)
async def push(
    *,
    request: Request,
    resources: ResourcesDep,
    signature: Signature,
    timestamp: Timestamp,
    nonce: Nonce,
    openid: Annotated[str | None, Query(max_length=64)] = None,
    encrypt_type: Annotated[str | None, Query(max_length=16)] = None,
    msg_signature: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    """Verify, parse (decrypt in encrypted mode), submit, and answer with the passive text reply carrying the
    ticket number (encrypted in encrypted mode)."""
    settings = resources.settings
    _check(request, signature, timestamp, nonce, settings.wechat_max_age_s)
    crypto: WechatCrypto | None = request.app.state.wechat_crypto
    encrypted = encrypt_type == "aes"
    if encrypt_type not in (None, "", "raw", "aes"):
        raise HTTPException(400, f"unknown encrypt_type {encrypt_type!r}: want aes or none")
    if encrypted and crypto is None:
        raise HTTPException(400, "encrypted mode is not configured: set JIESU_WECHAT_AES_KEY and _APP_ID")
    body = await request.body()
    await _refuse_replay(request, resources, timestamp, nonce, body)
    fields = _fields(body)
    if encrypted:
        assert crypto is not None
        try:
            inner = crypto.decrypt(msg_signature or "", timestamp, nonce, fields.get("Encrypt", ""))
        except WechatCryptoError as exc:
            REJECTIONS.labels(reason="wechat_signature").inc()
            raise HTTPException(403, f"bad encrypted WeChat message: {exc}") from exc
        fields = _fields(inner)

    def reply(text: str) -> Response:
        xml = text_reply(citizen, account, text)
        return Response(crypto.reply(xml, timestamp, nonce) if encrypted and crypto else xml, media_type=XML)

    kind = fields.get("MsgType", "")
    citizen, account = fields.get("FromUserName", ""), fields.get("ToUserName", "")
    if kind == "event":
        return PlainTextResponse("success")
    if kind not in SUBMISSION_TYPES:
        return reply(UNSUPPORTED_TEXT)
    if _openid_buckets(request, settings).take(citizen):
        # One user's burst is answered in WeChat, where they will read it; other users are not held up.
        refused(RateLimited(f"WeChat user over {settings.wechat_openid_per_minute:g} a minute", 60))
        return reply(TOO_FAST_TEXT)
    try:
        submission = parse_submission(fields)
    except ValidationError as exc:
        refused(InvalidSubmission(error_fields(exc.errors())))
        return reply(INVALID_TEXT)
    # Refused otherwise (rate, bus): the app's problem answer; WeChat tells the citizen to try again later.
    receipt = await intake_of(request).accept(resources, submission, CALLBACK, None)
    return reply(accepted_text(receipt.ticket_id))


def _fields(body: bytes) -> dict[str, str]:
    try:
        return parse_push(body)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
