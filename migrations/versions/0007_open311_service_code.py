"""The Open311 service_code a client submitted, kept on its ticket.

`tickets.service_code` is a stored generated column: Postgres computes it from the submission (the Open311
adapter puts `source: open311` and the `service_code` in the web submission's form_fields), so the workers
write nothing new and the classifier's `category` stays what it was. GET requests serves and filters on it.
Adding a stored generated column rewrites `tickets` (every partition): on a large deployed table run it in
a maintenance window (docs/storage.md). The index is partial: only Open311 tickets have a code.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As ingest/db/tables.py's SERVICE_CODE_SQL at this revision (a migration keeps its own copy).
_SERVICE_CODE = (
    "CASE WHEN submission -> 'form_fields' ->> 'source' = 'open311' "
    "THEN submission -> 'form_fields' ->> 'service_code' END"
)


def upgrade() -> None:
    op.execute(
        f"ALTER TABLE tickets ADD COLUMN service_code text GENERATED ALWAYS AS ({_SERVICE_CODE}) STORED"
    )
    op.execute(
        "CREATE INDEX tickets_service_code_time ON tickets (service_code, received_at DESC) "
        "WHERE service_code IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX tickets_service_code_time")
    op.execute("ALTER TABLE tickets DROP COLUMN service_code")
