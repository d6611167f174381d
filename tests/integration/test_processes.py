"""Separate processes on the real stack: `python -m app` and two `python -m workers`, 1,000 submissions."""

import asyncio
import uuid

import httpx

from ingest.settings import Settings
from ingest.topics import EVENTS, topic_name
from tests.integration.helpers import fetchval, free_port, pipeline_processes, read_topic, wait_until

TOTAL = 1000


async def test_thousand_submissions_two_workers_each_stored_once(stack_settings: Settings) -> None:
    port = free_port()
    run = uuid.uuid4().hex[:6]
    with pipeline_processes(stack_settings, port, workers=2) as procs:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            async def gateway_up() -> bool:
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            assert await wait_until(gateway_up, timeout_s=60), "gateway did not become ready"
            limit = asyncio.Semaphore(50)

            async def submit(i: int) -> str:
                body = {
                    "channel": ("web", "wechat")[i % 2],
                    "external_id": f"{run}-{i}",
                    "title": "路灯不亮" if i % 2 == 0 else "",
                    "content": f"第{i}号楼下的路灯坏了一个星期了，晚上很黑。",
                    "citizen": {"phone": f"139{i:08d}"},
                }
                async with limit:
                    resp = await http.post("/v1/complaints", json=body)
                assert resp.status_code == 202, resp.text
                ticket: str = resp.json()["ticket_id"]
                return ticket

            tickets = await asyncio.gather(*(submit(i) for i in range(TOTAL)))
        assert len(set(tickets)) == TOTAL

        async def all_stored() -> bool:
            count = await fetchval(
                stack_settings, "SELECT count(*) FROM tickets WHERE ticket_id = ANY($1)", tickets
            )
            return count == TOTAL

        assert await wait_until(all_stored, timeout_s=120, every_s=1)
        assert all(proc.poll() is None for proc in procs), "a process died under load"
    # None twice: as many rows as distinct ids, and every one registered once in the key table.
    rows = await fetchval(stack_settings, "SELECT count(*) FROM tickets WHERE ticket_id = ANY($1)", tickets)
    keys = await fetchval(
        stack_settings, "SELECT count(*) FROM ticket_keys WHERE ticket_id = ANY($1)", tickets
    )
    assert rows == keys == TOTAL
    # Both workers took part: the intake partitions were shared between the two group members.
    partitions = await fetchval(
        stack_settings,
        "SELECT count(DISTINCT source_partition) FROM tickets WHERE ticket_id = ANY($1)",
        tickets,
    )
    assert isinstance(partitions, int) and partitions > 1
    events = await read_topic(
        stack_settings.kafka_bootstrap_servers, topic_name(EVENTS, stack_settings.topic_prefix), expect=TOTAL
    )
    assert {k.decode() for k, _ in events} == set(tickets)
