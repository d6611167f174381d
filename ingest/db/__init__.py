"""Postgres: table definitions (the Alembic migrations create them) and the engine."""
