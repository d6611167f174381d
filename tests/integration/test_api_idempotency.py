"""Idempotency on the real Kafka and Postgres: retries, retry storms, gateway restarts, several gateways.

The same `(channel, external_id)` — or the same Idempotency-Key — always yields the same ticket id (derived,
not stored, so no gateway needs to remember anything) and the workers' `ticket_keys` stores it once.
"""

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from ingest.settings import REPO_ROOT, Settings
from tests.api_support import API_KEYS, KEY_OF, bearer
from tests.integration.helpers import fetchval, pipeline, read_intake, wait_until
from workers.consumer import running_worker

SUBMISSIONS = 200
COPIES = 5


def _submission(run: str, i: int) -> tuple[dict[str, Any], dict[str, str]]:
    """Submission i of a run, on all three channels; every tenth keyed by Idempotency-Key, not external_id."""
    channel = ("web", "wechat", "phone")[i % 3]
    citizen = {"phone": f"139{i:08d}"}
    if channel == "web":
        body: dict[str, Any] = {
            "channel": "web",
            "content": f"{run} 第{i}号楼下的路灯坏了",
            "citizen": citizen,
        }
    elif channel == "wechat":
        body = {
            "channel": "wechat",
            "content": f"{run} 第{i}号楼门口积水",
            "citizen": {"wechat_openid": f"o{run}{i}"},
        }
    else:
        segment = {"speaker": "citizen", "text": f"{run} 第{i}号楼噪音扰民", "confidence": 0.9}
        body = {"channel": "phone", "call": {"call_id": f"{run}-call-{i}", "transcript": [segment]}}
    headers = bearer(KEY_OF[channel])
    if i % 10 == 0:
        # The header wins over external_id and over a phone submission's call id.
        headers["Idempotency-Key"] = f"{run}-hdr-{i}"
    elif channel != "phone":
        body["external_id"] = f"{run}-{i}"
    return body, headers


async def _stored(settings: Settings, tickets: list[str], table: str = "tickets") -> int:
    count = await fetchval(settings, f"SELECT count(*) FROM {table} WHERE ticket_id = ANY($1)", tickets)
    assert isinstance(count, int)
    return count


async def test_retry_storm_200_submissions_5_times_concurrently_store_200(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"api_keys": API_KEYS})
    run = uuid.uuid4().hex[:6]
    attempts = [(i, *_submission(run, i)) for i in range(SUBMISSIONS) for _ in range(COPIES)]
    random.Random(7).shuffle(attempts)
    async with pipeline(settings) as http:
        limit = asyncio.Semaphore(100)

        async def send(i: int, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
            async with limit:
                resp = await http.post("/v1/complaints", json=body, headers=headers)
            assert resp.status_code == 202, resp.text
            return i, str(resp.json()["ticket_id"])

        answers = await asyncio.gather(*(send(*a) for a in attempts))
        by_submission: dict[int, set[str]] = {}
        for i, ticket in answers:
            by_submission.setdefault(i, set()).add(ticket)
        # Every copy of a submission got the same ticket id, and different submissions different ones.
        assert all(len(ids) == 1 for ids in by_submission.values())
        tickets = [next(iter(ids)) for ids in by_submission.values()]
        assert len(set(tickets)) == SUBMISSIONS

        async def all_stored() -> bool:
            return await _stored(settings, tickets) == SUBMISSIONS

        assert await wait_until(all_stored, timeout_s=60, every_s=0.5)
        await asyncio.sleep(1)  # let the worker finish whatever copies it still had in hand
    assert await _stored(settings, tickets) == SUBMISSIONS
    assert await _stored(settings, tickets, "ticket_keys") == SUBMISSIONS
    # The gateway really sent all five copies: the deduplication happened downstream, by ticket id.
    intake = await read_intake(
        settings.kafka_bootstrap_servers, settings.topic_prefix, expect=SUBMISSIONS * COPIES
    )
    assert len(intake) == SUBMISSIONS * COPIES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _gateway_process(settings: Settings, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": settings.database_url,
        "JIESU_TOPIC_PREFIX": settings.topic_prefix,
        "JIESU_API_KEYS": settings.api_keys,
        "PORT": str(port),
        "JIESU_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "app"], env=env, cwd=REPO_ROOT)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:

        async def up() -> bool:
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        assert await wait_until(up, timeout_s=60), f"gateway at {base} did not become ready"


async def _submit_all(base: str, run: str, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def one(i: int) -> str:
            body, headers = _submission(run, i)
            resp = await http.post("/v1/complaints", json=body, headers=headers)
            assert resp.status_code == 202, resp.text
            return str(resp.json()["ticket_id"])

        return list(await asyncio.gather(*(one(i) for i in range(count))))


async def test_same_tickets_across_a_restart_and_two_gateway_processes(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"api_keys": API_KEYS})
    run, count = uuid.uuid4().hex[:6], 60
    port_a, port_b = _free_port(), _free_port()
    base_a, base_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    async with running_worker(settings):
        with _gateway_process(settings, port_a):
            await _ready(base_a)
            first = await _submit_all(base_a, run, count)
        # Gateway A is gone; it comes back as a new process, and gateway B runs beside it.
        with _gateway_process(settings, port_a), _gateway_process(settings, port_b):
            await _ready(base_a)
            await _ready(base_b)
            after_restart, other_gateway = await asyncio.gather(
                _submit_all(base_a, run, count), _submit_all(base_b, run, count)
            )
            async with httpx.AsyncClient(base_url=base_b, timeout=30) as http:
                items = [_submission(run, i)[0] for i in range(count) if i % 3 == 0 and i % 10 != 0]
                batch = await http.post(
                    "/v1/complaints/batch", json={"items": items}, headers=bearer(KEY_OF["web"])
                )
                assert batch.status_code == 202, batch.text
        assert first == after_restart == other_gateway
        assert len(set(first)) == count
        web_tickets = [first[i] for i in range(count) if i % 3 == 0 and i % 10 != 0]
        assert [r["ticket_id"] for r in batch.json()["results"]] == web_tickets

        async def all_stored() -> bool:
            return await _stored(settings, first) == count

        assert await wait_until(all_stored, timeout_s=60, every_s=0.5)
        await asyncio.sleep(1)
    assert await _stored(settings, first) == count
    assert await _stored(settings, first, "ticket_keys") == count
