"""Incident versions: every write of an incident takes the next number of one sequence.

A worker keeps the incidents of the buckets it groups in memory across batches (workers/incident_cache.py)
and, holding a bucket's advisory lock, reads only the incidents whose version is above the highest it has
seen there: writes to a bucket happen under its lock, so a version committed after that is always higher.
A trigger sets the version, so any writer (a worker, a later admin tool) is seen.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE incidents_version_seq AS bigint")
    op.execute(
        "ALTER TABLE incidents ADD COLUMN version bigint NOT NULL DEFAULT nextval('incidents_version_seq')"
    )
    op.execute("ALTER SEQUENCE incidents_version_seq OWNED BY incidents.version")
    op.execute(
        """
        CREATE FUNCTION jiesu_incident_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.version := nextval('incidents_version_seq');
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER incidents_version BEFORE UPDATE ON incidents "
        "FOR EACH ROW EXECUTE FUNCTION jiesu_incident_version()"
    )
    op.execute("CREATE INDEX incidents_bucket_version ON incidents (bucket, version)")


def downgrade() -> None:
    op.execute("DROP INDEX incidents_bucket_version")
    op.execute("DROP TRIGGER incidents_version ON incidents")
    op.execute("DROP FUNCTION jiesu_incident_version()")
    op.execute("ALTER TABLE incidents DROP COLUMN version")
