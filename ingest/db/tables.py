"""Table definitions used by queries; the schema itself is created by the Alembic migrations in migrations/.

`tickets` is range-partitioned by month on `received_at`; a unique key on a partitioned table must include
the partition key, so `ticket_keys` (not partitioned) is what makes a ticket id unique across all months.
`ticket_status_history` is partitioned the same way (on the ticket's `received_at`), so a month of tickets and
their history are archived together; `archived_partitions` lists the months retention took out
(docs/storage.md).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

# A ticket's Open311 service_code: the one its client submitted, only for submissions that came through
# Open311 (app/open311/routes.py puts both in the web submission's form_fields).
SERVICE_CODE_SQL = (
    "CASE WHEN submission -> 'form_fields' ->> 'source' = 'open311' "
    "THEN submission -> 'form_fields' ->> 'service_code' END"
)

ticket_keys = Table(
    "ticket_keys",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("received_at", DateTime(timezone=True), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("external_id", Text),
    Column("title", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("citizen_key", Text),
    Column("district", Text),
    Column("address", Text),
    Column("category", Text),
    Column("category_confidence", Float),
    Column("needs_review", Boolean, nullable=False),
    Column("review_reasons", JSONB, nullable=False),
    Column("urgency", Text, nullable=False),
    Column("urgency_reason", Text),
    Column("department", Text),
    Column("duplicate_of", Text),
    Column("incident_id", Text),
    Column("submission", JSONB, nullable=False),
    Column("source_partition", Integer, nullable=False),
    Column("source_offset", BigInteger, nullable=False),
    Column("status_seq", Integer, nullable=False, server_default="0"),
    Column("status_changed_at", DateTime(timezone=True)),
    Column("urgency_situation", Text),
    Column("urgent_screen", Text),
    # The Open311 service_code the client submitted, kept by Postgres from the submission (0007).
    Column("service_code", Text, Computed(SERVICE_CODE_SQL, persisted=True)),
    # The three rates (migration 0008): the first dispatch, and the follow-up call recorded on closing.
    Column("dispatched_at", DateTime(timezone=True)),
    Column("follow_up_solved", Boolean),
    Column("follow_up_satisfaction", Text),
    Column("follow_up_at", DateTime(timezone=True)),
)

ticket_status_history = Table(
    "ticket_status_history",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("received_at", DateTime(timezone=True), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("from_status", Text, nullable=False),
    Column("to_status", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("note", Text),
    Column("department", Text),
)

archived_partitions = Table(
    "archived_partitions",
    metadata,
    Column("month", Date, primary_key=True),
    Column("tables", ARRAY(Text), nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("location", Text, nullable=False),
    Column("archived_at", DateTime(timezone=True), nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", Text, primary_key=True),
    Column("bucket", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("category", Text),
    Column("district", Text),
    Column("place", Text),
    Column("size", Integer, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("signature", JSONB, nullable=False),
    # Set when grouping found it to be part of another incident (migration 0010); its tickets moved there.
    Column("merged_into", Text),
)

# Report rollups (migration 0008): kept by the reports worker from complaints.events, read by the reports.
rollup_hourly = Table(
    "rollup_hourly",
    metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("district", Text, primary_key=True),
    Column("category", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("tickets", Integer, nullable=False),
    Column("urgent", Integer, nullable=False),
)

rollup_incident_hourly = Table(
    "rollup_incident_hourly",
    metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("incident_id", Text, primary_key=True),
    Column("tickets", Integer, nullable=False),
)

rollup_ledger = Table(
    "rollup_ledger",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

report_alerts = Table(
    "report_alerts",
    metadata,
    Column("alert_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("hour", DateTime(timezone=True), nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("subject", JSONB, nullable=False),
    Column("observed", Integer, nullable=False),
    Column("baseline", Float),
    Column("score", Float),
    Column("message", Text, nullable=False),
)

report_publications = Table(
    "report_publications",
    metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("published_at", DateTime(timezone=True), nullable=False),
)
