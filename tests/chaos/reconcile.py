"""Reconciliation: every ticket answered 202 must be stored exactly once — and the chaos report of the run.

`missing` counts tickets the gateway acknowledged (202) that never reached `tickets`; `duplicate_rows` counts
rows beyond the first of any ticket id in the scenario's database. Both must be 0 in every scenario.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from tests.chaos.load import OpenLoopLoad


@dataclass
class Reconciliation:
    """Accepted tickets against stored rows, for one scenario's database."""

    accepted: int
    stored: int
    missing: int
    duplicate_rows: int
    stored_total: int  # distinct tickets in the database, the unacknowledged ones included
    stored_unacknowledged: int  # answered 503 (or not at all) and stored anyway: harmless, a retry is a no-op
    drain_s: float | None  # from the end of the load until every accepted ticket was stored
    missing_ids: list[str] = field(default_factory=list)


async def _counts(dsn: str, accepted: list[str]) -> tuple[int, int, int, set[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        stored = await conn.fetchval(
            "SELECT count(DISTINCT ticket_id) FROM tickets WHERE ticket_id = ANY($1)", accepted
        )
        rows, distinct = await conn.fetchrow("SELECT count(*), count(DISTINCT ticket_id) FROM tickets")
        ids = {r["ticket_id"] for r in await conn.fetch("SELECT ticket_id FROM tickets")}
    finally:
        await conn.close()
    return int(stored), int(rows) - int(distinct), int(distinct), ids


async def stored_count(dsn: str, ticket_ids: list[str]) -> int:
    """How many of `ticket_ids` are stored."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(DISTINCT ticket_id) FROM tickets WHERE ticket_id = ANY($1)", ticket_ids
            )
        )
    finally:
        await conn.close()


async def wait_stored(
    dsn: str, ticket_ids: list[str], timeout_s: float, every_s: float = 0.25
) -> float | None:
    """Seconds until every one of `ticket_ids` is stored; None if that did not happen within `timeout_s`."""
    started = time.monotonic()
    while True:
        if await stored_count(dsn, ticket_ids) >= len(set(ticket_ids)):
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            return None
        await asyncio.sleep(every_s)


async def reconcile(dsn: str, load: OpenLoopLoad, drain_timeout_s: float = 60) -> Reconciliation:
    """Wait (bounded) for the accepted tickets to be stored, then count what is missing and what doubled."""
    accepted_outcomes = load.accepted()
    wrong = [o for o in accepted_outcomes if o.ticket_id != o.expected_ticket_id]
    assert not wrong, f"202 with an unexpected ticket id: {wrong[:3]}"
    accepted = sorted({o.expected_ticket_id for o in accepted_outcomes})
    drain_s = await wait_stored(dsn, accepted, drain_timeout_s)
    stored, duplicate_rows, stored_total, ids = await _counts(dsn, accepted)
    unacknowledged = {o.expected_ticket_id for o in load.outcomes if o.status != 202}
    missing = sorted(set(accepted) - ids)
    return Reconciliation(
        accepted=len(accepted),
        stored=stored,
        missing=len(missing),
        duplicate_rows=duplicate_rows,
        stored_total=stored_total,
        stored_unacknowledged=len(unacknowledged & ids),
        drain_s=round(drain_s, 2) if drain_s is not None else None,
        missing_ids=missing[:10],
    )


@dataclass
class ChaosReport:
    """`.data/chaos-report.json`: an entry per scenario, rewritten after each so a partial run shows too."""

    path: Path
    stack: dict[str, Any]
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def add(
        self,
        scenario: str,
        result: Reconciliation,
        load: OpenLoopLoad,
        recovery_s: float | None,
        recovery_what: str,
        **extra: Any,
    ) -> dict[str, Any]:
        """Record one scenario's figures and rewrite the file; the entry."""
        entry: dict[str, Any] = {
            "accepted": result.accepted,
            "stored": result.stored,
            "missing": result.missing,
            "duplicate_rows": result.duplicate_rows,
            "errors_503": len(load.with_status(503)),
            "recovery_s": round(recovery_s, 2) if recovery_s is not None else None,
            "recovery_what": recovery_what,
            "requests": len(load.outcomes),
            "rate_per_s": load.rate_per_s,
            "duration_s": round(max((o.sent_at for o in load.outcomes), default=0.0), 1),
            "other_outcomes": _other_outcomes(load),
            "stored_unacknowledged": result.stored_unacknowledged,
            "drain_s": result.drain_s,
            **extra,
        }
        if result.missing_ids:
            entry["missing_ids"] = result.missing_ids
        self.scenarios[scenario] = entry
        self.write()
        return entry

    def write(self) -> None:
        """Write the report as it stands."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "started_at": self.started_at,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "stack": self.stack,
            "scenarios": self.scenarios,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(self.path)


def _other_outcomes(load: OpenLoopLoad) -> dict[str, int]:
    out: dict[str, int] = {}
    for outcome in load.unexpected():
        key = str(outcome.status) if outcome.status is not None else (outcome.error or "unknown")
        out[key] = out.get(key, 0) + 1
    return out
