"""Worker stops, and the WeChat pushes seen: two small tables of issue 18 (security).

Worker stops: a worker stopped by the dead-letter cap says so here, and the gateway's /readyz reads it.

One row per stop: the lane, the worker (host:pid), why, when. `resumed_at` is set when a worker of the same
lane that started after the stop has committed a batch: processing runs again. The table stays small (a row
per stop, not per batch); rows are kept as the record of past stops.

WeChat pushes: every push's `timestamp:nonce` with the digest of its body, so that a replayed callback is
refused by every gateway process (a retry of the same body is let through: it is idempotent by MsgId).
Rows older than the freshness window are pruned by the gateways: a push that old is refused by its
timestamp anyway.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE worker_stops (
            id bigserial PRIMARY KEY,
            lane text NOT NULL,
            worker text NOT NULL,
            reason text NOT NULL,
            stopped_at timestamptz NOT NULL DEFAULT now(),
            resumed_at timestamptz
        )
        """
    )
    # /readyz reads the open stops every few seconds: a partial index keeps that one page however many
    # stops were ever recorded.
    op.execute("CREATE INDEX worker_stops_open ON worker_stops (lane, stopped_at) WHERE resumed_at IS NULL")
    op.execute(
        """
        CREATE TABLE wechat_pushes (
            push_key text PRIMARY KEY,
            body_digest bytea NOT NULL,
            seen_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX wechat_pushes_seen ON wechat_pushes (seen_at)")


def downgrade() -> None:
    op.execute("DROP TABLE wechat_pushes")
    op.execute("DROP TABLE worker_stops")
