"""Initial schema: ticket keys, month-partitioned tickets, incidents, and the partition-maintenance function.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE ticket_keys (
            ticket_id   text PRIMARY KEY,
            received_at timestamptz NOT NULL
        )
        """
    )
    op.execute(
        """
        CREATE TABLE tickets (
            ticket_id           text        NOT NULL,
            received_at         timestamptz NOT NULL,
            processed_at        timestamptz NOT NULL,
            status              text        NOT NULL,
            channel             text        NOT NULL,
            external_id         text,
            title               text        NOT NULL,
            content             text        NOT NULL,
            citizen_key         text,
            district            text,
            address             text,
            category            text,
            category_confidence double precision,
            needs_review        boolean     NOT NULL,
            review_reasons      jsonb       NOT NULL,
            urgency             text        NOT NULL,
            urgency_reason      text,
            department          text,
            duplicate_of        text,
            incident_id         text,
            submission          jsonb       NOT NULL,
            source_partition    integer     NOT NULL,
            source_offset       bigint      NOT NULL,
            PRIMARY KEY (ticket_id, received_at)
        ) PARTITION BY RANGE (received_at)
        """
    )
    op.execute("CREATE INDEX tickets_citizen_time ON tickets (citizen_key, received_at)")
    op.execute("CREATE INDEX tickets_incident ON tickets (incident_id) WHERE incident_id IS NOT NULL")
    op.execute("CREATE INDEX tickets_category_district_time ON tickets (category, district, received_at)")
    op.execute("CREATE INDEX tickets_received ON tickets (received_at)")
    # One function creates a month's partition if missing; the worker calls it for every month it writes,
    # and migrations call it for the months around now, so writes never find their month missing.
    op.execute(
        """
        CREATE FUNCTION jiesu_ensure_ticket_partition(month_start date) RETURNS text
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
    )
    op.execute(
        "SELECT jiesu_ensure_ticket_partition("
        "(date_trunc('month', now()) + make_interval(months => m))::date) FROM generate_series(-1, 3) AS m"
    )
    op.execute(
        """
        CREATE TABLE incidents (
            incident_id text PRIMARY KEY,
            bucket      text        NOT NULL,
            title       text        NOT NULL,
            category    text,
            district    text,
            place       text,
            size        integer     NOT NULL,
            first_seen  timestamptz NOT NULL,
            last_seen   timestamptz NOT NULL,
            signature   jsonb       NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX incidents_bucket_last_seen ON incidents (bucket, last_seen DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE incidents")
    op.execute("DROP TABLE tickets")
    op.execute("DROP FUNCTION jiesu_ensure_ticket_partition(date)")
    op.execute("DROP TABLE ticket_keys")
