"""Report rollups: small tables the hourly brief, the alerts and 每月一题 read instead of a year of tickets.

Kept by the reports worker (`python -m workers.rollups`), a consumer of complaints.events:

- `rollup_hourly`: tickets per UTC hour × district × category × channel, and how many of them were urgent;
  unknown district or category is stored as '' so that the key is a plain primary key.
- `rollup_incident_hourly`: tickets joining each incident per UTC hour (an incident's growth; its first hour
  is the hour it was new).
- `rollup_ledger`: the tickets already counted, so a redelivered or republished `ticket.processed` counts
  once; rows older than the longest redelivery window are pruned by the worker.
- `report_alerts`: every alert the detector raised, one row per subject and hour (the brief lists them).
- `report_publications`: the hours whose brief was published on complaints.reports.

And, for the three rates (响应率 / 解决率 / 满意率), on `tickets`: `dispatched_at` (the first dispatch) and
the follow-up call recorded when the ticket is closed (`follow_up_solved`, `follow_up_satisfaction`,
`follow_up_at`). Added without defaults, so the change is instant on a large table.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


FOLLOW_UP_COLUMNS = (
    ("dispatched_at", "timestamptz"),
    ("follow_up_solved", "boolean"),
    ("follow_up_satisfaction", "text"),
    ("follow_up_at", "timestamptz"),
)


def upgrade() -> None:
    for column, kind in FOLLOW_UP_COLUMNS:
        op.execute(f"ALTER TABLE tickets ADD COLUMN {column} {kind}")
    op.execute(
        """
        CREATE TABLE rollup_hourly (
            hour timestamptz NOT NULL,
            district text NOT NULL,
            category text NOT NULL,
            channel text NOT NULL,
            tickets integer NOT NULL,
            urgent integer NOT NULL,
            PRIMARY KEY (hour, district, category, channel)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE rollup_incident_hourly (
            hour timestamptz NOT NULL,
            incident_id text NOT NULL,
            tickets integer NOT NULL,
            PRIMARY KEY (hour, incident_id)
        )
        """
    )
    # The incident's own hours (growth over time, weeks it came back) without scanning other incidents.
    op.execute("CREATE INDEX rollup_incident_hourly_incident ON rollup_incident_hourly (incident_id, hour)")
    # An hour's fastest-growing incidents in order, read a few rows deep: without it every brief and every
    # detector round sorts all of the hour's incidents (and Postgres starts a parallel worker to do it).
    op.execute(
        "CREATE INDEX rollup_incident_hourly_growth "
        "ON rollup_incident_hourly (hour, tickets DESC, incident_id)"
    )
    op.execute(
        """
        CREATE TABLE rollup_ledger (
            ticket_id text PRIMARY KEY,
            received_at timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX rollup_ledger_received ON rollup_ledger (received_at)")
    op.execute(
        """
        CREATE TABLE report_alerts (
            alert_id text PRIMARY KEY,
            kind text NOT NULL,
            hour timestamptz NOT NULL,
            raised_at timestamptz NOT NULL,
            subject jsonb NOT NULL,
            observed integer NOT NULL,
            baseline double precision,
            score double precision,
            message text NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX report_alerts_hour ON report_alerts (hour)")
    op.execute(
        """
        CREATE TABLE report_publications (
            hour timestamptz PRIMARY KEY,
            published_at timestamptz NOT NULL
        )
        """
    )


def downgrade() -> None:
    for table in (
        "report_publications",
        "report_alerts",
        "rollup_ledger",
        "rollup_incident_hourly",
        "rollup_hourly",
    ):
        op.execute(f"DROP TABLE {table}")
    for column, _ in FOLLOW_UP_COLUMNS:
        op.execute(f"ALTER TABLE tickets DROP COLUMN {column}")
