"""Content keys: how a resubmission through another channel (another citizen key) finds its original.

`content_key` is a 64-bit key of the first words of a ticket's content (workers/judgement/resubmission.py).
The column is added without a default, so the change is instant; the index is partial (only originals, the
tickets a repeat can link to) and built on every partition by Postgres itself.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE tickets ADD COLUMN content_key bigint")
    op.execute(
        "CREATE INDEX tickets_content_key_time ON tickets (content_key, received_at) "
        "WHERE content_key IS NOT NULL AND duplicate_of IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX tickets_content_key_time")
    op.execute("ALTER TABLE tickets DROP COLUMN content_key")
