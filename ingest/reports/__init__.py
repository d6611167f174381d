"""What the hotline's leaders look at: the arithmetic and queries of the reports, shared by the gateway's
report routes and the reports worker (which keeps the rollups, raises alerts and publishes the brief)."""
