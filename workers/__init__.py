"""Intake workers: consume the intake topic in batches, judge, store, publish, then commit."""
