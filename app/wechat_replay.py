"""Refusing replayed WeChat callbacks across every gateway process: the pushes seen, in Postgres.

WeChat signs only the token, the timestamp and the nonce in plaintext mode, not the body: whoever holds one
callback URL could post any message under any openid with it. A push is therefore taken once per
`timestamp:nonce`, remembered with the digest of its body in `wechat_pushes` (migration 0009): the same URL
again with the same body is WeChat's own retry (idempotent by MsgId, let through); with another body it is a
replay, refused. Process memory would not do: a replay sent to another gateway process would pass.
The timestamp's freshness window (app/routes/wechat.py) bounds how long a URL is worth replaying, and so how
long rows are kept.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# One statement: claim the key, or read the digest it was first seen with (the snapshot of the statement
# does not see the row it inserts itself, so `earlier` is NULL exactly when this push is the first).
_CLAIM = text(
    "WITH claimed AS (INSERT INTO wechat_pushes (push_key, body_digest) VALUES (:key, :digest) "
    "ON CONFLICT (push_key) DO NOTHING RETURNING 1) "
    "SELECT (SELECT body_digest FROM wechat_pushes WHERE push_key = :key) AS earlier"
)
_PRUNE = text("DELETE FROM wechat_pushes WHERE seen_at < now() - make_interval(secs => :keep_s)")
# Pruning is a range delete on an index: every so many pushes per process is enough.
PRUNE_EVERY = 500


class PushLedger(Protocol):
    """Where the pushes seen are kept."""

    async def is_replay(self, timestamp: str, nonce: str, body: bytes) -> bool:
        """True when this `timestamp:nonce` was seen before with another body."""
        ...


class PostgresPushLedger:
    """The pushes seen, in `wechat_pushes`, shared by every gateway process on the database."""

    def __init__(self, engine: AsyncEngine, keep_s: float) -> None:
        self._engine = engine
        self._keep_s = keep_s
        self._count = itertools.count(1)

    async def is_replay(self, timestamp: str, nonce: str, body: bytes) -> bool:
        """Claim the push; True when its key was claimed before by a different body."""
        digest = hashlib.sha256(body).digest()
        async with self._engine.begin() as conn:
            earlier = (await conn.execute(_CLAIM, {"key": f"{timestamp}:{nonce}", "digest": digest})).scalar()
            if next(self._count) % PRUNE_EVERY == 0:
                await conn.execute(_PRUNE, {"keep_s": self._keep_s})
        return earlier is not None and bytes(earlier) != digest
