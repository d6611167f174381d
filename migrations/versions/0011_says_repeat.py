"""`tickets.says_repeat`: the ticket opens by saying it repeats an earlier one ("再次反映：").

A repeat sent through another channel can be grouped before its original (its partition ran ahead), find
nothing, and wait for it. When a batch's originals are grouped, the workers look for such waiting repeats
with the originals' content keys. Only repeats that found no original are wanted: without this flag the
lookup read every unlinked ticket sharing a content key, which on a day of templated texts and a deep
backlog is thousands of rows a batch. The partial index holds the waiting repeats alone.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: Postgres records it without rewriting the month partitions.
    op.execute("ALTER TABLE tickets ADD COLUMN says_repeat boolean NOT NULL DEFAULT false")
    op.execute(
        "CREATE INDEX tickets_waiting_repeats ON tickets (content_key, received_at) "
        "WHERE says_repeat AND duplicate_of IS NULL AND content_key IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX tickets_waiting_repeats")
    op.execute("ALTER TABLE tickets DROP COLUMN says_repeat")
