"""Open311 on the real stack: POST answers a token, the worker stores the ticket, tokens/{token} resolves it,
and GET requests reads Postgres with filters and paging, in JSON and XML: publicly, with the service_code the
client submitted and without personal data."""

from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import httpx

from ingest.settings import Settings
from tests import open311_spec as spec
from tests.api_support import API_KEYS, WEB_KEY
from tests.integration.helpers import fetchval, pipeline, wait_until

V2 = "/open311/v2"


# Personal data a form carries, which no public read may show.
PERSONAL = {"phone": "13800138000", "email": "li@example.com", "first_name": "伟", "last_name": "李"}


def _form(i: int, code: str = "transport") -> dict[str, str]:
    return {
        "api_key": WEB_KEY,
        "service_code": code,
        "lat": "39.99",
        "long": "116.35",
        "description": f"学院路{i}号门口的路灯坏了一个星期,晚上很黑。",
        "media_url": f"https://portal.example.gov.cn/p/{i}.jpg",
        **PERSONAL,
    }


async def _resolve(http: httpx.AsyncClient, token: str) -> str:
    found: dict[str, Any] = {}

    async def stored() -> bool:
        [reply] = (await http.get(f"{V2}/tokens/{token}.json")).json()
        found.update(reply)
        return "service_request_id" in reply

    assert await wait_until(stored, timeout_s=30), found
    return str(found["service_request_id"])


async def _execute(settings: Settings, sql: str, *args: object) -> None:
    await fetchval(settings, sql + " RETURNING 1", *args)


async def _check_filters(http: httpx.AsyncClient, settings: Settings, ids: list[str], started: str) -> None:
    # ids[:4] were submitted as transport, ids[4:] as environmental-protection. Whatever the classifier
    # decides (here: the opposite), Open311 serves and filters on the submitted code.
    await _execute(settings, "UPDATE tickets SET category = '环境保护' WHERE ticket_id = ANY($1)", ids[:4])
    await _execute(settings, "UPDATE tickets SET category = '交通运输' WHERE ticket_id = ANY($1)", ids[4:])
    await _execute(settings, "UPDATE tickets SET status = 'closed' WHERE ticket_id = ANY($1)", ids[:2])

    async def listing(**params: Any) -> list[dict[str, Any]]:
        # Public: no api_key.
        resp = await http.get(f"{V2}/requests.json", params=params)
        assert resp.status_code == 200, resp.text
        rows: list[dict[str, Any]] = resp.json()
        return [r for r in rows if r["service_request_id"] in ids]

    assert len(await listing()) == 6
    transport = await listing(service_code="transport")
    assert {r["service_request_id"] for r in transport} == set(ids[:4])
    assert all(r["service_code"] == "transport" and r["service_name"] == "交通运输" for r in transport)
    assert {r["service_request_id"] for r in await listing(service_code="environmental-protection")} == set(
        ids[4:]
    )
    assert {r["service_request_id"] for r in await listing(status="closed")} == set(ids[:2])
    assert {r["service_request_id"] for r in await listing(status="open", service_code="transport")} == set(
        ids[2:4]
    )
    assert {r["service_request_id"] for r in await listing(service_request_id=f"{ids[1]},{ids[5]}")} == {
        ids[1],
        ids[5],
    }
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await listing(start_date=future) == []
    # Newest first, pages do not overlap and cover everything.
    pages = [
        await listing(
            page=p, page_size=2, start_date=started, service_code="transport,environmental-protection"
        )
        for p in (1, 2, 3, 4)
    ]
    assert [len(p) for p in pages] == [2, 2, 2, 0]
    seen = [r["service_request_id"] for p in pages for r in p]
    assert sorted(seen) == sorted(ids)
    stamps = [r["requested_datetime"] for p in pages for r in p]
    assert stamps == sorted(stamps, reverse=True)


async def test_token_resolves_once_stored_and_requests_read_postgres(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"api_keys": API_KEYS})
    async with pipeline(settings) as http:
        started = datetime.now(UTC).isoformat()
        tokens = []
        for i in range(6):
            code = "transport" if i < 4 else "environmental-protection"
            resp = await http.post(
                f"{V2}/requests.json", data=_form(i, code), headers={"Idempotency-Key": f"o311-{i}"}
            )
            assert resp.status_code == 200, resp.text
            [reply] = resp.json()
            assert set(reply) == {"token", "service_notice"}
            tokens.append(reply["token"])
        # Before the worker stored it a token resolves to nothing yet; afterwards to its service_request_id.
        ids = [await _resolve(http, t) for t in tokens]
        assert ids == tokens

        one = await http.get(f"{V2}/requests/{ids[0]}.json")
        assert one.status_code == 200, one.text
        assert not any(value in one.text for value in PERSONAL.values())
        [request] = one.json()
        assert (request["service_code"], request["service_name"]) == ("transport", "交通运输")
        assert request["service_request_id"] == ids[0]
        assert request["status"] == "open"
        assert request["description"].startswith("学院路0号")
        assert (request["lat"], request["long"]) == (39.99, 116.35)
        assert request["media_url"] == "https://portal.example.gov.cn/p/0.jpg"
        assert request["requested_datetime"].endswith("Z")
        xml_one = (await http.get(f"{V2}/requests/{ids[0]}.xml")).content
        xml = ElementTree.fromstring(xml_one)
        assert xml.tag == "service_requests" and xml.findtext("request/service_request_id") == ids[0]
        # Only the elements of the spec's sample response (its public fields).
        sample = ElementTree.fromstring(spec.GET_REQUESTS_RESPONSE_XML.encode())
        assert {e.tag for e in xml.iter()} <= {e.tag for e in sample.iter()}
        assert xml.findtext("request/service_code") == "transport"

        await _check_filters(http, settings, ids, started)

        # The classifier's category stays on the jiesu API.
        # Read with the web adapter's key: Open311 submissions are web tickets; a key reads its own channel's.
        ticket = await http.get(f"/v1/complaints/{ids[0]}", headers={"Authorization": f"Bearer {WEB_KEY}"})
        assert ticket.json()["category"] == "环境保护"

        xml_list = (await http.get(f"{V2}/requests.xml")).content
        assert {e.text for e in ElementTree.fromstring(xml_list).iter("service_request_id")} >= set(ids)
        assert not any(value.encode() in xml_list for value in PERSONAL.values())

        # The spec's sample query (a window in 2010): none of these.
        old = await http.get(f"{V2}/requests.xml?{spec.GET_REQUESTS_QUERY}")
        assert old.status_code == 200 and ElementTree.fromstring(old.content).findall("request") == []
        # A bad filter is a GeoReport 400; an unknown id a 404.
        bad = await http.get(f"{V2}/requests.json", params={"status": "pending"})
        assert bad.status_code == 400
        missing = await http.get(f"{V2}/requests/JSAAAAAAAAAAAAAAAAAAAAAAAA.json")
        assert missing.status_code == 404


async def test_a_retried_open311_post_is_stored_once(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"api_keys": API_KEYS})
    async with pipeline(settings) as http:
        replies = [
            (
                await http.post(
                    f"{V2}/requests.json", data=_form(99), headers={"Idempotency-Key": "retry-me"}
                )
            ).json()
            for _ in range(3)
        ]
        token = replies[0][0]["token"]
        assert all(r[0]["token"] == token for r in replies)
        await _resolve(http, token)
        assert await fetchval(settings, "SELECT count(*) FROM tickets WHERE ticket_id = $1", token) == 1
