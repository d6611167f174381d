"""The reports worker: keeps the report rollups from complaints.events, raises alerts on complaints.alerts and
publishes each hour's brief on complaints.reports (`python -m workers.rollups`; docs/reports.md)."""
