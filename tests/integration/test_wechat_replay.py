"""A replayed WeChat callback is refused by every gateway process: the pushes seen are kept in Postgres."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
import pytest

from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.settings import Settings
from tests.api_support import WECHAT_TOKEN, accepted_records
from tests.unit.test_api_wechat import URL, push, signed_query

pytestmark = pytest.mark.postgres


async def test_a_replay_to_another_gateway_process_is_refused(database_url: str) -> None:
    settings = Settings(kafka_bootstrap_servers="", database_url=database_url, wechat_token=WECHAT_TOKEN)
    broker = in_process_broker(settings)
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):  # two gateway processes: their own memory, one database
            app = create_app(settings, broker=broker)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://g"))
            )
        first, second = clients
        query = signed_query()
        genuine = push("text", msg_id="replay-1", Content="红绿灯坏了")
        assert (await first.post(URL, params=query, content=genuine)).status_code == 200
        assert (await second.post(URL, params=query, content=genuine)).status_code == 200  # a retry
        forged = push("text", msg_id="replay-2", Content="伪造")
        refused = await second.post(URL, params=query, content=forged)
        assert refused.status_code == 403
        assert "replayed" in refused.json()["detail"]
        assert {r.value.count(b"replay-2") for r in accepted_records(broker)} == {0}
