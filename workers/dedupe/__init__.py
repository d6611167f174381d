"""Offline resubmission linking and incident grouping over JSON Lines (`python -m workers.dedupe`)."""
