"""Open311 GeoReport v2 on the running gateway, the parts that need no database: discovery, services, POST."""

from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import orjson
import pytest

from app.open311 import catalogue
from tests.api_support import WEB_KEY, WECHAT_KEY, accepted_records, gateway, settings

V2 = "/open311/v2"
FORM = {
    "api_key": WEB_KEY,
    "service_code": "environmental-protection",
    "lat": "39.99",
    "long": "116.35",
    "address_string": "海淀区学院路30号",
    "description": "小区门口烧烤摊油烟很大,晚上十二点还在营业。",
    "email": "li@example.com",
    "phone": "13800138000",
    "first_name": "伟",
    "last_name": "李",
    "media_url": "https://portal.example.gov.cn/p/1.jpg",
    "attribute[noise]": "yes",
}


def test_committed_service_list_matches_the_taxonomy(data_dir: Path) -> None:
    taxonomy = data_dir / "taxonomy.csv"
    if not taxonomy.exists():
        pytest.skip("no shared taxonomy here")
    assert catalogue.build(taxonomy) == orjson.loads(catalogue.SERVICES_FILE.read_bytes())
    assert len(catalogue.services()) == 15
    assert len({s.code for s in catalogue.services()}) == 15


async def test_discovery_and_services_in_json_and_xml() -> None:
    async with gateway(settings()) as (http, _, _app):
        disc = await http.get(f"{V2}/discovery.json")
        assert disc.status_code == 200
        assert disc.json()["endpoints"][0]["url"] == "http://gateway/open311/v2"
        services = (await http.get(f"{V2}/services.json")).json()
        assert len(services) == 15
        env = next(s for s in services if s["service_code"] == "environmental-protection")
        assert env["service_name"] == "环境保护" and env["metadata"] is False and env["type"] == "batch"
        xml = await http.get(f"{V2}/services.xml")
        assert xml.headers["content-type"] == "text/xml; charset=utf-8"
        assert xml.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
        root = ElementTree.fromstring(xml.content)
        assert root.tag == "services" and len(root.findall("service")) == 15
        definition = await http.get(f"{V2}/services/transport.json")
        assert definition.json() == {"service_code": "transport", "attributes": []}
        disc_xml = ElementTree.fromstring((await http.get(f"{V2}/discovery.xml")).content)
        assert [f.text for f in disc_xml.iter("format")] == ["text/xml", "application/json"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/services/nope.json", 404),
        ("/services.yaml", 400),
        ("/services/nope.xml", 404),
        ("/tokens/JSAAA.json", 404),
    ],
)
async def test_errors_are_geo_report_errors(path: str, status: int) -> None:
    async with gateway(settings()) as (http, _, _app):
        resp = await http.get(V2 + path)
        assert resp.status_code == status
        if path.endswith(".xml"):
            root = ElementTree.fromstring(resp.content)
            assert root.tag == "errors" and root.find("error/code").text == str(status)  # type: ignore[union-attr]
        else:
            [error] = resp.json()
            assert error["code"] == status and error["description"]


async def test_post_request_is_a_web_submission_answered_with_a_token() -> None:
    async with gateway(settings()) as (http, broker, _):
        resp = await http.post(f"{V2}/requests.json", data=FORM)
        assert resp.status_code == 200, resp.text
        [reply] = resp.json()
        [record] = accepted_records(broker)
        value = orjson.loads(record.value)
        assert reply["token"] == value["ticket_id"]
        assert value["channel"] == "web"
        sub = value["submission"]
        assert sub["category_hint"] == "环境保护"
        assert sub["citizen"] == {"phone": "13800138000", "email": "li@example.com", "name": "李伟"}
        assert sub["location"] == {"latitude": 39.99, "longitude": 116.35, "address": "海淀区学院路30号"}
        assert sub["attachments"] == ["https://portal.example.gov.cn/p/1.jpg"]
        assert sub["form_fields"]["source"] == "open311"
        xml = await http.post(f"{V2}/requests.xml", data=FORM, headers={"Idempotency-Key": "o-1"})
        root = ElementTree.fromstring(xml.content)
        assert root.tag == "service_requests" and root.find("request/token") is not None
        again = await http.post(f"{V2}/requests.xml", data=FORM, headers={"Idempotency-Key": "o-1"})
        assert again.content.split(b"<token>")[1] == xml.content.split(b"<token>")[1]


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"api_key": None}, 403, "api_key"),
        ({"api_key": "nope-0123456789abcdef"}, 403, "api_key"),
        ({"api_key": WECHAT_KEY}, 403, "channel"),
        ({"service_code": "nope"}, 400, "service_code"),
        ({"lat": None, "long": None, "address_string": None}, 400, "location"),
        ({"lat": "north"}, 400, "lat"),
        ({"phone": "12"}, 400, "phone"),
        ({"description": " "}, 400, "description"),
        ({"media_url": "ftp://x"}, 400, "media_url"),
    ],
)
async def test_post_request_refusals(change: dict[str, Any], status: int, says: str) -> None:
    form = {k: v for k, v in {**FORM, **change}.items() if v is not None}
    async with gateway(settings()) as (http, broker, _):
        resp = await http.post(f"{V2}/requests.json", data=form)
        assert resp.status_code == status, resp.text
        [error] = resp.json()
        assert error["code"] == status and says in error["description"]
        assert accepted_records(broker) == []


async def test_open_gateway_takes_open311_without_a_key() -> None:
    async with gateway(settings(api_keys="", signing_secrets="")) as (http, broker, _):
        form = {k: v for k, v in FORM.items() if k != "api_key"}
        assert (await http.post(f"{V2}/requests.json", data=form)).status_code == 200
        assert len(accepted_records(broker)) == 1


async def test_request_ids_nobody_issued_match_nothing_without_a_query() -> None:
    """Ids this deployment never signed (one with a NUL byte Postgres would refuse) match nothing, and no
    query is made: the database of these settings is unreachable, so a query would be a 503."""
    async with gateway(settings(api_keys="", signing_secrets="")) as (http, _, _app):
        resp = await http.get(
            "/open311/v2/requests.json",
            params={"service_request_id": "ª\x04\x88\x00z,JSAAAAAAAAAAAAAAAAAAAAAAAA"},
        )
    assert resp.status_code == 200
    assert resp.json() == []
