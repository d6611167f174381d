"""The rollups on the real stack: tickets through gateway → Kafka → worker → events → reports worker."""

from __future__ import annotations

import zlib
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from ingest.settings import Settings
from ingest.topics import EVENTS, topic_name
from tests.integration.helpers import fetchval, pipeline, read_topic, wait_until
from workers.rollups.metrics import REPEATS

BURST = "朝阳区望京西园三区门口的井盖丢了，晚上很危险，请尽快处理。"


def burst_and_two_others(prefix: str, copies: int) -> list[dict[str, Any]]:
    """`copies` citizens reporting one problem at one place (one incident; external ids `<prefix>-burst-<n>`),
    a noisy barbecue stall and a gas leak."""
    burst = [
        {
            "channel": "wechat",
            "external_id": f"{prefix}-burst-{i}",
            "content": BURST,
            "citizen": {"wechat_openid": f"o{prefix}Burst{i:04d}"},
        }
        for i in range(copies)
    ]
    noise = {
        "channel": "web",
        "external_id": f"{prefix}-noise",
        "title": "烧烤摊夜间噪音扰民",
        "content": "海淀区学院路烧烤摊每天营业到凌晨两点，噪音很大。",
        "citizen": {"phone": f"138{zlib.crc32(prefix.encode()) % 10**8:08d}"},
    }
    gas = {
        "channel": "wechat",
        "external_id": f"{prefix}-gas",
        "content": "丰台区方庄芳城园一区3号楼楼道里有很浓的煤气味，好像燃气泄漏了！",
        "citizen": {"wechat_openid": f"o{prefix}Gas0001"},
    }
    return [*burst, noise, gas]


BODIES = burst_and_two_others("roll", 3)


def reports_settings(kafka: str, database_url: str, prefix: str, **overrides: Any) -> Settings:
    """Settings of a pipeline with the reports worker, on a database and topics of the test's own."""
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka,
        "database_url": database_url,
        "topic_prefix": prefix,
        "consumer_group": f"{prefix}group",
        "batch_timeout_ms": 100,
    }
    return Settings(**{**values, **overrides})


# The rollups must agree with a count of the stored tickets, cell by cell.
_FROM_TICKETS = """
SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AS hour, coalesce(district, '') AS district,
       coalesce(category, '') AS category, channel, count(*) AS tickets,
       count(*) FILTER (WHERE urgency <> 'normal') AS urgent
FROM tickets GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
_FROM_ROLLUPS = """
SELECT hour AT TIME ZONE 'UTC' AS hour, district, category, channel, tickets, urgent
FROM rollup_hourly ORDER BY 1, 2, 3, 4
"""


async def _submit(http: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> list[str]:
    ids = []
    for body in bodies:
        resp = await http.post("/v1/complaints", json=body)
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["ticket_id"])
    return ids


async def _rows(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    from workers.db import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def test_rollups_match_the_stored_tickets_and_a_redelivered_event_counts_once(
    kafka_bootstrap: str, fresh_database_url: str, topic_prefix: str
) -> None:
    settings = reports_settings(kafka_bootstrap, fresh_database_url, topic_prefix)
    async with pipeline(settings, reports=True) as http:
        await _submit(http, BODIES)

        async def all_counted() -> bool:
            total = await fetchval(settings, "SELECT coalesce(sum(tickets), 0) FROM rollup_hourly")
            return total == len(BODIES)

        assert await wait_until(all_counted, timeout_s=60)
        assert await _rows(settings, _FROM_ROLLUPS) == await _rows(settings, _FROM_TICKETS)
        # The three reports of the missing manhole cover grew one incident.
        assert await fetchval(settings, "SELECT max(tickets) FROM rollup_incident_hourly") == 3
        urgent = await fetchval(settings, "SELECT sum(urgent) FROM rollup_hourly")
        assert urgent == await fetchval(settings, "SELECT count(*) FROM tickets WHERE urgency <> 'normal'")

        # Every event again, as a redelivery or a republication would bring it.
        events = await read_topic(kafka_bootstrap, topic_name(EVENTS, topic_prefix), expect=len(BODIES))
        repeats_before = REPEATS._value.get()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for key, value in events:
                headers = [("event_type", orjson.loads(value)["event_type"].encode())]
                await producer.send_and_wait(
                    topic_name(EVENTS, topic_prefix), value, key=key, headers=headers
                )
        finally:
            await producer.stop()

        async def repeats_seen() -> bool:
            seen: float = REPEATS._value.get() - repeats_before
            return seen >= len(events)

        assert await wait_until(repeats_seen, timeout_s=30)
        assert await fetchval(settings, "SELECT sum(tickets) FROM rollup_hourly") == len(BODIES)
        assert await fetchval(settings, "SELECT count(*) FROM rollup_ledger") == len(BODIES)
