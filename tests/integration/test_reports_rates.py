"""The three rates on the real Postgres: follow-up calls recorded by the status API, rates read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ingest.bus.factory import in_process_broker
from ingest.settings import Settings
from tests.integration.helpers import pipeline, wait_until

BODIES = [
    {
        "channel": "wechat",
        "external_id": f"rates-{i}",
        "content": text,
        "citizen": {"wechat_openid": f"oRates{i:04d}"},
    }
    for i, text in enumerate(
        [
            "朝阳区望京西园三区门口的路灯坏了一个星期。",
            "海淀区学院路烧烤摊每天营业到凌晨两点，噪音很大。",
            "丰台区方庄芳城园一区小区门口垃圾堆积很久没人清运。",
            "东城区东四十条地铁站出口的盲道被共享单车占了。",
        ]
    )
]
FOLLOW_UPS: list[dict[str, Any]] = [
    {"solved": True, "satisfaction": "satisfied"},
    {"solved": False, "satisfaction": "dissatisfied"},
    {"solved": True, "satisfaction": "basically_satisfied"},
]


async def _move(http: httpx.AsyncClient, ticket: str, status: str, **extra: Any) -> httpx.Response:
    return await http.post(f"/v1/complaints/{ticket}/status", json={"status": status, **extra})


async def test_follow_ups_make_the_resolution_and_satisfaction_rates(database_url: str) -> None:
    settings = Settings(database_url=database_url, batch_timeout_ms=50)
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with pipeline(settings, in_process_broker(settings)) as http:
        ids = []
        for body in BODIES:
            resp = await http.post("/v1/complaints", json=body)
            assert resp.status_code == 202, resp.text
            ids.append(resp.json()["ticket_id"])

        async def processed() -> bool:
            answers = [(await http.get(f"/v1/complaints/{t}")).json()["status"] for t in ids]
            return all(a == "processed" for a in answers)

        assert await wait_until(processed, timeout_s=30)
        refused = await _move(http, ids[0], "dispatched", follow_up=FOLLOW_UPS[0])
        assert refused.status_code == 422
        for ticket, follow_up in zip(ids, FOLLOW_UPS, strict=False):
            assert (await _move(http, ticket, "dispatched", department="区城管委")).status_code == 200
            assert (await _move(http, ticket, "resolved")).status_code == 200
            closed = await _move(http, ticket, "closed", follow_up=follow_up)
            assert closed.status_code == 200, closed.text
        history = (await http.get(f"/v1/complaints/{ids[0]}/history")).json()["history"]
        period = {"from": since.isoformat(), "to": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()}
        by_department = (await http.get("/v1/reports/rates", params=period)).json()
        by_district = (await http.get("/v1/reports/rates", params={**period, "by": "district"})).json()
        backwards = await http.get("/v1/reports/rates", params={"from": period["to"], "to": period["from"]})

    assert [h["status"] for h in history][-1] == "closed"
    total = by_department["total"]
    # The fourth ticket is neither dispatched nor past the two-hour limit: not yet due.
    assert (total["tickets"], total["due"], total["responded"], total["response_rate"]) == (4, 3, 3, 1.0)
    assert (total["followed_up"], total["solved"], total["resolution_rate"]) == (3, 2, 0.6667)
    assert (total["rated"], total["satisfied"], total["satisfaction_rate"]) == (3, 2, 0.6667)
    names = {row["name"]: row for row in by_department["rows"]}
    assert names["区城管委"]["followed_up"] == 3
    assert by_department["by"] == "department" and by_department["response_limit_hours"] == 2.0
    assert sum(row["tickets"] for row in by_district["rows"]) == 4
    assert by_district["total"] == total
    assert backwards.status_code == 400
