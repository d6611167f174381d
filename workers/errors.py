"""The worker's three-way error split: invalid → dead letter, transient → retry, anything else → crash."""

from __future__ import annotations


class TransientError(Exception):
    """A dependency (database, bus) failed in a way that retrying the same batch can fix."""


class DeadLetterFlood(Exception):
    """Too many dead letters too fast: likelier a bad deploy than bad input, so stop instead of draining."""
