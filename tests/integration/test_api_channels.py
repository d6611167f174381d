"""The channels end to end on the real Kafka and Postgres: a WeChat push, a batch, a badly transcribed call
and a flooding citizen are all stored as tickets, the doubtful ones marked for review, none dropped."""

import uuid
from typing import Any

import httpx

from ingest.settings import Settings
from tests.api_support import API_KEYS, PHONE_KEY, WEB_KEY, WECHAT_KEY, WECHAT_TOKEN, bearer
from tests.integration.helpers import pipeline, wait_until
from tests.unit.test_api_wechat import push, reply_fields, signed_query


async def _stored(http: httpx.AsyncClient, tickets: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The tickets once processed, each read with its own channel's adapter key (a key reads only those)."""

    async def views() -> list[dict[str, Any]]:
        return [(await http.get(f"/v1/complaints/{t}", headers=bearer(key))).json() for t, key in tickets]

    async def processed() -> bool:
        return all(v["status"] == "processed" for v in await views())

    assert await wait_until(processed, timeout_s=30)
    return await views()


async def test_every_channel_is_stored_and_doubtful_ones_flagged(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(
        update={"api_keys": API_KEYS, "wechat_token": WECHAT_TOKEN, "flood_threshold": 2}
    )
    run = uuid.uuid4().hex[:6]
    async with pipeline(settings) as http:
        wechat = await http.post(
            "/v1/channels/wechat",
            params=signed_query(),
            content=push(
                "voice", msg_id=f"9{run.encode().hex()}", MediaId="m1", Recognition="学院路路口红绿灯坏了"
            ),
        )
        assert wechat.status_code == 200, wechat.text
        wechat_ticket = reply_fields(wechat.content)["Content"].split("工单号：")[1][:26]

        items = [
            {
                "channel": "web",
                "external_id": f"{run}-{i}",
                "content": f"第{i}号楼下垃圾没人清运",
                "citizen": {"phone": "13500135000"},
            }
            for i in range(3)
        ]
        batch = await http.post("/v1/complaints/batch", json={"items": items}, headers=bearer(WEB_KEY))
        assert batch.status_code == 202, batch.text
        web_tickets = [r["ticket_id"] for r in batch.json()["results"]]

        mumbled = {
            "channel": "phone",
            "call": {
                "call_id": f"{run}-call",
                "caller": "13900139000",
                "transcript": [{"speaker": "citizen", "text": "嗯……那个……路……", "confidence": 0.31}],
            },
        }
        call = await http.post("/v1/complaints", json=mumbled, headers=bearer(PHONE_KEY))
        assert call.status_code == 202
        stored = await _stored(
            http,
            [
                (wechat_ticket, WECHAT_KEY),
                *((t, WEB_KEY) for t in web_tickets),
                (call.json()["ticket_id"], PHONE_KEY),
            ],
        )

    by_id = {t["ticket_id"]: t for t in stored}
    voice = by_id[wechat_ticket]
    assert (voice["channel"], voice["content"], voice["needs_review"]) == (
        "wechat",
        "学院路路口红绿灯坏了",
        True,
    )
    # The third submission of the same citizen within the window is over the threshold of 2: flagged, stored.
    flooding = [any("flooding" in r for r in by_id[t]["review_reasons"]) for t in web_tickets]
    assert flooding == [False, False, True]
    assert by_id[web_tickets[2]]["needs_review"] is True
    phone = by_id[call.json()["ticket_id"]]
    assert phone["needs_review"] is True
    assert any("confidence" in r for r in phone["review_reasons"])
