"""Urgency situations and the urgent lane: which catalogue situation made a ticket urgent, and what the
gateway's screen saw when it sent the ticket on the urgent lane.

Both are nullable and added without a default, so the change is instant on a table of any size (new columns
of a partitioned table are added to every partition by Postgres itself).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE tickets ADD COLUMN urgency_situation text")
    op.execute("ALTER TABLE tickets ADD COLUMN urgent_screen text")


def downgrade() -> None:
    op.execute("ALTER TABLE tickets DROP COLUMN urgent_screen")
    op.execute("ALTER TABLE tickets DROP COLUMN urgency_situation")
