"""Incidents merged into another: `incidents.merged_into`.

Grouping is online: two citizens' first reports of one problem can found two incidents before a report that
names both their places (a road and the estate on it) shows they are one. The workers then merge the smaller
into the larger: the merged incident's row stays, with `merged_into` naming the incident it is part of, and
its tickets are moved to that incident in the same transaction. A NULL is an incident in its own right.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE incidents ADD COLUMN merged_into text")
    # Merges are rare: a partial index finds the incidents merged into one when it is merged in turn.
    op.execute("CREATE INDEX incidents_merged_into ON incidents (merged_into) WHERE merged_into IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX incidents_merged_into")
    op.execute("ALTER TABLE incidents DROP COLUMN merged_into")
