"""Incident grouping across workers: retrieval keys with a GIN index, city and places of each incident.

The worker locks an incident bucket (pg_advisory_xact_lock), fetches the bucket's recent incidents that share
a retrieval key with the batch (`keys && $keys`), groups in memory and writes the touched incidents back, all
in the batch's transaction — so workers on other partitions see each other's incidents.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE incidents ADD COLUMN keys text[] NOT NULL DEFAULT '{}'")
    op.execute("ALTER TABLE incidents ADD COLUMN city text")
    op.execute("ALTER TABLE incidents ADD COLUMN places text[] NOT NULL DEFAULT '{}'")
    op.execute("CREATE INDEX incidents_keys ON incidents USING gin (keys)")


def downgrade() -> None:
    op.execute("DROP INDEX incidents_keys")
    op.execute("ALTER TABLE incidents DROP COLUMN places")
    op.execute("ALTER TABLE incidents DROP COLUMN city")
    op.execute("ALTER TABLE incidents DROP COLUMN keys")
