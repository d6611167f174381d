"""Poison messages written straight to the intake topic while good traffic flows, then a flood of them.

Undecodable bytes, a record that fails validation, and a valid record the database refuses (a NUL byte in
its text) each go to the dead-letter topic with the stage and the reason in headers while the good
submissions around them are stored. A flood beyond JIESU_DLQ_MAX_PER_WINDOW stops the workers (exit 1)
instead of draining the topic into the dead-letter queue: most of the flood is still there, uncommitted.
"""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from ingest.tickets import new_ticket_id
from ingest.topics import DLQ, INTAKE, INTAKE_URGENT, topic_name
from tests.chaos.conftest import Scenario, report_extra
from tests.chaos.faults import catch_up_timer
from tests.chaos.reconcile import reconcile
from tests.chaos.topics import produce_raw, read_all, undrained

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.postgres]

RATE, DURATION_S = 20, 12
PER_KIND = 5
DLQ_CAP = 30
FLOOD = 400


def _poison(template: bytes, secret: str, run: str) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """PER_KIND records of each kind, keyed `poison-<kind>-<i>`; the NUL ones are otherwise valid records."""
    out: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = []
    base = orjson.loads(template)
    for i in range(PER_KIND):
        out.append((f"poison-undecodable-{i}".encode(), b"\xff\xfe{not json at all" + bytes([i]), []))
        invalid = {**base, "channel": "fax", "ticket_id": new_ticket_id(secret, f"{run}-invalid-{i}")}
        out.append((f"poison-invalid-{i}".encode(), orjson.dumps(invalid), []))
        ticket_id = new_ticket_id(secret, f"{run}-nul-{i}")
        nul = {**base, "ticket_id": ticket_id, "external_id": f"{run}-nul-{i}", "content": f"路灯坏了\x00{i}"}
        out.append((f"poison-database-{i}".encode(), orjson.dumps(nul), [("ticket_id", ticket_id.encode())]))
    return out


async def test_poison_messages_dead_lettered_and_flood_stops_workers(scenario: Scenario) -> None:
    procs = scenario.procs
    bootstrap, prefix = scenario.stack.bootstrap, scenario.settings.topic_prefix
    intake, dlq = topic_name(INTAKE, prefix), topic_name(DLQ, prefix)
    cap = {"JIESU_DLQ_MAX_PER_WINDOW": str(DLQ_CAP)}
    gateway, w1, w2 = procs.gateway(), procs.worker("w1", **cap), procs.worker("w2", **cap)
    await procs.ready(gateway, w1, w2)
    load = scenario.load(gateway.url, RATE, DURATION_S)
    load.start()
    await asyncio.sleep(3)
    # a real record the gateway wrote is the template, so the NUL poison is valid in every other respect
    urgent_lane = topic_name(INTAKE_URGENT, prefix)
    written = await read_all(bootstrap, intake, INTAKE.partitions, expect=1, timeout_s=5)
    written += await read_all(bootstrap, urgent_lane, INTAKE_URGENT.partitions, expect=1, timeout_s=5)
    template = written[0].value
    poison = _poison(template, scenario.settings.ticket_secret, load.run_id)
    injected_at = time.monotonic()
    await produce_raw(bootstrap, intake, poison)
    caught_up = catch_up_timer(scenario.dsn, load)
    await load.wait()
    recovery_s = await caught_up
    result = await reconcile(scenario.dsn, load, drain_timeout_s=60)
    letters = await read_all(bootstrap, dlq, DLQ.partitions, expect=len(poison), timeout_s=30)
    dead_lettered_s = time.monotonic() - injected_at
    stages = {(r.key or b"").decode(): r.headers.get("dlq_stage", b"").decode() for r in letters}
    reasons = [r.headers.get("dlq_error", b"") for r in letters]

    flood: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = [
        (f"flood-{i}".encode(), b"\x00garbage" + str(i).encode(), []) for i in range(FLOOD)
    ]
    await produce_raw(bootstrap, intake, flood)
    exits = [await w1.wait_exit(30), await w2.wait_exit(30)]
    letters_after = await read_all(bootstrap, dlq, DLQ.partitions, expect=len(poison) + FLOOD, timeout_s=3)
    flood_dead_lettered = len(letters_after) - len(letters)
    left = await undrained(bootstrap, intake, INTAKE.partitions, scenario.settings.consumer_group)
    entry = scenario.report.add(
        "poison_messages_and_dlq_cap",
        result,
        load,
        recovery_s,
        "poison injected → every good ticket accepted until then stored (poison does not block the flow)",
        **report_extra(
            poison_sent=len(poison),
            dead_letters=len(letters),
            dead_letter_stages={s: sum(1 for v in stages.values() if v == s) for s in set(stages.values())},
            dead_lettered_within_s=dead_lettered_s,
            dlq_cap_per_worker=DLQ_CAP,
            flood_sent=FLOOD,
            flood_dead_lettered=flood_dead_lettered,
            flood_left_on_topic=left,
            worker_exit_codes=exits,
        ),
    )

    assert result.missing == 0, scenario.fail_with_logs(f"accepted but not stored: {entry}")
    assert result.duplicate_rows == 0, entry
    assert not load.unexpected() and not load.with_status(503), entry
    assert recovery_s is not None, scenario.fail_with_logs(f"poison held up the good records: {entry}")
    assert len(letters) == len(poison), scenario.fail_with_logs(f"dead letters: {entry}")
    for key, stage in stages.items():
        assert stage == ("database" if key.startswith("poison-database") else "decode"), (key, stage)
    assert all(reasons), "a dead letter without its reason"
    assert all(r.headers.get("dlq_source_topic") == intake.encode() for r in letters)
    assert exits == [1, 1], scenario.fail_with_logs(f"the flood did not stop both workers: {entry}")
    assert flood_dead_lettered <= 2 * DLQ_CAP, entry
    assert left >= FLOOD - 2 * DLQ_CAP, entry
