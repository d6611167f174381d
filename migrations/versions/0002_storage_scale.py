"""Storage at hotline scale: status history, archived months, indexes for the read API's queries.

- `ticket_status_history`, partitioned by month on the ticket's `received_at` like `tickets`, so that one
  month of a ticket and its history is detached and archived together;
- `tickets.status_seq` / `status_changed_at`: the last history entry of a ticket (locked with the row);
- `archived_partitions`: months the retention command took out of `tickets`; the partition function refuses to
  recreate them, so a late write for an archived month cannot open a second, partial copy of it;
- indexes for the cursor order (received_at, ticket_id) alone and under the status, urgency and incident
  filters; a check of the status vocabulary.

On a large deployed table build the indexes without blocking writes instead: `CREATE INDEX … ON ONLY tickets`,
then `CREATE INDEX CONCURRENTLY` on each partition and `ALTER INDEX … ATTACH PARTITION` (docs/storage.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("processed", "dispatched", "resolved", "closed", "rejected")

_ENSURE_PARTITION_V2 = """
CREATE OR REPLACE FUNCTION jiesu_ensure_ticket_partition(month_start date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    first_day date := date_trunc('month', month_start)::date;
    next_day  date := (date_trunc('month', month_start) + interval '1 month')::date;
    suffix    text := to_char(date_trunc('month', month_start), 'YYYY_MM');
BEGIN
    -- An archived month is never recreated: NULL tells the caller it has no partition any more.
    IF EXISTS (SELECT 1 FROM archived_partitions WHERE month = first_day) THEN
        RETURN NULL;
    END IF;
    IF to_regclass('tickets_' || suffix) IS NULL
       OR to_regclass('ticket_status_history_' || suffix) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('jiesu_ticket_partitions'));
        IF to_regclass('tickets_' || suffix) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF tickets FOR VALUES FROM (%L) TO (%L)',
                           'tickets_' || suffix, first_day, next_day);
        END IF;
        IF to_regclass('ticket_status_history_' || suffix) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF ticket_status_history FOR VALUES FROM (%L) TO (%L)',
                           'ticket_status_history_' || suffix, first_day, next_day);
        END IF;
    END IF;
    RETURN 'tickets_' || suffix;
END $$
"""

_ENSURE_PARTITION_V1 = """
CREATE OR REPLACE FUNCTION jiesu_ensure_ticket_partition(month_start date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    first_day date := date_trunc('month', month_start)::date;
    part_name text := 'tickets_' || to_char(first_day, 'YYYY_MM');
BEGIN
    IF to_regclass(part_name) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('jiesu_ticket_partitions'));
        IF to_regclass(part_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF tickets FOR VALUES FROM (%L) TO (%L)',
                part_name, first_day, (first_day + interval '1 month')::date
            );
        END IF;
    END IF;
    RETURN part_name;
END $$
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS archive")
    op.execute(
        """
        CREATE TABLE archived_partitions (
            month       date PRIMARY KEY,
            tables      text[]      NOT NULL,
            row_count   bigint      NOT NULL,
            location    text        NOT NULL,
            archived_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE ticket_status_history (
            ticket_id   text        NOT NULL,
            received_at timestamptz NOT NULL,
            seq         integer     NOT NULL,
            from_status text        NOT NULL,
            to_status   text        NOT NULL,
            changed_at  timestamptz NOT NULL,
            actor       text        NOT NULL,
            note        text,
            department  text,
            PRIMARY KEY (ticket_id, received_at, seq)
        ) PARTITION BY RANGE (received_at)
        """
    )
    op.execute("ALTER TABLE tickets ADD COLUMN status_seq integer NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE tickets ADD COLUMN status_changed_at timestamptz")
    allowed = ", ".join(f"'{s}'" for s in STATUSES)
    op.execute(f"ALTER TABLE tickets ADD CONSTRAINT tickets_status_known CHECK (status IN ({allowed}))")

    # The read API pages in (received_at, ticket_id) order, alone or under one equality filter.
    op.execute("DROP INDEX tickets_received")
    op.execute("CREATE INDEX tickets_received_id ON tickets (received_at, ticket_id)")
    op.execute("CREATE INDEX tickets_status_time ON tickets (status, received_at, ticket_id)")
    # Most tickets are `normal`; the desks page through the few others.
    op.execute(
        "CREATE INDEX tickets_urgent_time ON tickets (urgency, received_at, ticket_id) "
        "WHERE urgency <> 'normal'"
    )
    op.execute("DROP INDEX tickets_incident")
    op.execute(
        "CREATE INDEX tickets_incident_time ON tickets (incident_id, received_at, ticket_id) "
        "WHERE incident_id IS NOT NULL"
    )
    op.execute("CREATE INDEX tickets_duplicate_of ON tickets (duplicate_of) WHERE duplicate_of IS NOT NULL")

    op.execute(_ENSURE_PARTITION_V2)
    # Every existing month gets its history partition.
    op.execute(
        """
        SELECT jiesu_ensure_ticket_partition(to_date(substr(c.relname, 9), 'YYYY_MM'))
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'tickets'::regclass AND c.relname ~ '^tickets_[0-9]{4}_[0-9]{2}$'
        """
    )
    op.execute(
        "SELECT jiesu_ensure_ticket_partition("
        "(date_trunc('month', now()) + make_interval(months => m))::date) FROM generate_series(-1, 3) AS m"
    )


def downgrade() -> None:
    op.execute(_ENSURE_PARTITION_V1)
    op.execute("DROP INDEX tickets_duplicate_of")
    op.execute("DROP INDEX tickets_incident_time")
    op.execute("CREATE INDEX tickets_incident ON tickets (incident_id) WHERE incident_id IS NOT NULL")
    op.execute("DROP INDEX tickets_urgent_time")
    op.execute("DROP INDEX tickets_status_time")
    op.execute("DROP INDEX tickets_received_id")
    op.execute("CREATE INDEX tickets_received ON tickets (received_at)")
    op.execute("ALTER TABLE tickets DROP CONSTRAINT tickets_status_known")
    op.execute("ALTER TABLE tickets DROP COLUMN status_changed_at")
    op.execute("ALTER TABLE tickets DROP COLUMN status_seq")
    op.execute("DROP TABLE ticket_status_history")
    op.execute("DROP TABLE archived_partitions")
    # Not CASCADE: archived months still in the schema stop the downgrade instead of being dropped with it.
    op.execute("DROP SCHEMA archive")
