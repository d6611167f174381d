"""Open311 GeoReport v2 on the running gateway, the parts that need no database: discovery, services, POST."""

from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from app.auth import client_network
from app.open311 import catalogue
from tests import open311_spec as spec
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
        ({"description": "长" * 4001}, 400, "description"),
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


def _record_of(broker: Any) -> dict[str, Any]:
    [record] = accepted_records(broker)
    value: dict[str, Any] = orjson.loads(record.value)
    return value


def _same_shape(ours: bytes, *theirs: str) -> None:
    """Our XML has the spec samples' root and item elements, and only element names the samples have."""
    mine = ElementTree.fromstring(ours)
    samples = [ElementTree.fromstring(sample.encode()) for sample in theirs]
    assert {mine.tag} == {sample.tag for sample in samples}
    assert [child.tag for child in mine] == [samples[0][0].tag] * len(mine)
    assert {e.tag for e in mine.iter()} <= {e.tag for sample in samples for e in sample.iter()}


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_the_specs_sample_post_is_taken_with_the_submitted_service_code(fmt: str) -> None:
    form = spec.post_form(api_key=WEB_KEY, service_code="transport", phone="13800138000")
    async with gateway(settings(open311_jurisdiction=spec.JURISDICTION)) as (http, broker, _):
        resp = await http.post(f"{V2}/requests.{fmt}", data=form)
        assert resp.status_code == 200, resp.text
        value = _record_of(broker)
    if fmt == "xml":
        _same_shape(resp.content, spec.POST_TOKEN_RESPONSE_XML, spec.POST_RESPONSE_XML)
        token = ElementTree.fromstring(resp.content).findtext("request/token")
    else:
        token = resp.json()[0]["token"]
    assert token == value["ticket_id"]
    sub = value["submission"]
    assert sub["content"] == "A large sinkhole is destroying the street"
    # The code the client chose is kept for the ticket's service_code; the category is the workers' to judge.
    assert sub["form_fields"] == {
        "source": "open311", "service_code": "transport", "device_id": "tt222111", "account_id": "123456"
    }  # fmt: skip
    assert sub["location"] == {
        "latitude": 37.76524078,
        "longitude": -122.4212043,
        "address": "1234 5th street",
    }


@pytest.mark.parametrize("where", ["form", "query"])
async def test_api_key_is_read_from_the_form_or_the_query_string(where: str) -> None:
    form = {k: v for k, v in FORM.items() if k != "api_key"}
    params = {"api_key": WEB_KEY} if where == "query" else {}
    if where == "form":
        form["api_key"] = WEB_KEY
    async with gateway(settings()) as (http, broker, _):
        resp = await http.post(f"{V2}/requests.json", data=form, params=params)
        assert resp.status_code == 200, resp.text
        assert len(accepted_records(broker)) == 1
        denied = await http.post(f"{V2}/requests.xml", data={k: v for k, v in form.items() if k != "api_key"})
    assert denied.status_code == 403
    _same_shape(denied.content, spec.ERROR_RESPONSE_XML)


async def test_description_is_optional_and_at_most_4000_characters() -> None:
    async with gateway(settings()) as (http, broker, _):
        without = {k: v for k, v in FORM.items() if k != "description"}
        assert (await http.post(f"{V2}/requests.json", data=without)).status_code == 200
        # Without a description the service's name is the complaint's text.
        assert _record_of(broker)["submission"]["content"] == "环境保护"
        longest = await http.post(f"{V2}/requests.json", data={**FORM, "description": "长" * 4000})
        assert longest.status_code == 200
        for fmt in ("json", "xml"):
            over = await http.post(f"{V2}/requests.{fmt}", data={**FORM, "description": "长" * 4001})
            assert over.status_code == 400
            if fmt == "xml":
                _same_shape(over.content, spec.ERROR_RESPONSE_XML)
                assert "description" in (
                    ElementTree.fromstring(over.content).findtext("error/description") or ""
                )
            else:
                assert set(over.json()[0]) == set(spec.ERROR_RESPONSE_JSON[0])
                assert over.json()[0]["code"] == 400 and "description" in over.json()[0]["description"]
        assert len(accepted_records(broker)) == 2


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/services.json"),
        ("GET", "/services/transport.xml"),
        ("POST", "/requests.json"),
        ("GET", "/requests.json"),
        ("GET", "/requests/JSAAAAAAAAAAAAAAAAAAAAAAAA.xml"),
        ("GET", "/tokens/JSAAAAAAAAAAAAAAAAAAAAAAAA.json"),
    ],
)
async def test_an_unknown_jurisdiction_is_404(method: str, path: str) -> None:
    async with gateway(settings(open311_jurisdiction=spec.JURISDICTION)) as (http, broker, _):
        form = FORM if method == "POST" else None
        resp = await http.request(method, V2 + path, params={"jurisdiction_id": "elsewhere.gov"}, data=form)
        assert resp.status_code == 404, resp.text
        if path.endswith(".xml"):
            assert ElementTree.fromstring(resp.content).findtext("error/code") == "404"
        else:
            assert resp.json()[0]["code"] == 404 and "jurisdiction_id" in resp.json()[0]["description"]
        if method == "POST":
            in_form = await http.post(V2 + path, data={**FORM, "jurisdiction_id": "elsewhere.gov"})
            assert in_form.status_code == 404
            served = await http.post(V2 + path, data={**FORM, "jurisdiction_id": spec.JURISDICTION})
            assert served.status_code == 200
            assert len(accepted_records(broker)) == 1
        else:
            assert (
                await http.get(f"{V2}/services.json", params={"jurisdiction_id": spec.JURISDICTION})
            ).is_success


async def test_public_reads_need_no_api_key_on_a_keyed_gateway() -> None:
    async with gateway(settings()) as (http, _, _app):
        # Ids nobody issued match nothing without a query (the unit settings' database is unreachable).
        listing = await http.get(
            f"{V2}/requests.json", params={"service_request_id": "JSAAAAAAAAAAAAAAAAAAAAAAAA"}
        )
        assert listing.status_code == 200 and listing.json() == []
        one = await http.get(f"{V2}/requests/JSAAAAAAAAAAAAAAAAAAAAAAAA.json")
        assert one.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nope.json", 404),
        ("GET", "/nope.xml", 404),
        ("POST", "/requests/extra/deep.xml", 404),
        ("DELETE", "/requests.json", 405),
        ("PUT", "/services.xml", 405),
    ],
)
async def test_unknown_paths_answer_in_georeport_format(method: str, path: str, status: int) -> None:
    async with gateway(settings()) as (http, _, _app):
        resp = await http.request(method, V2 + path)
    assert resp.status_code == status
    if path.endswith(".xml"):
        _same_shape(resp.content, spec.ERROR_RESPONSE_XML)
        assert ElementTree.fromstring(resp.content).findtext("error/code") == str(status)
    else:
        [error] = resp.json()
        assert set(error) == {"code", "description"} and error["code"] == status


def _public_limited() -> float:
    labels = {"reason": "public_read_rate_limited"}
    return REGISTRY.get_sample_value("jiesu_gateway_rejections_total", labels) or 0.0


def _from(app: Any, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


async def test_public_reads_are_rate_limited_per_client_address() -> None:
    unknown = "JSAAAAAAAAAAAAAAAAAAAAAAAA"
    reads = [
        (f"{V2}/requests.json", {"service_request_id": unknown}, 200),
        (f"{V2}/requests/{unknown}.json", {}, 404),
        (f"{V2}/tokens/{unknown}.json", {}, 404),
    ]
    config = settings(public_read_rate_per_s=0.01, public_read_burst=3)
    async with gateway(config) as (_, _broker, app), _from(app, "198.51.100.7") as http:
        for path, params, status in reads:
            assert (await http.get(path, params=params)).status_code == status
        before = _public_limited()
        limited = await http.get(f"{V2}/requests.json", params={"service_request_id": unknown})
        assert limited.status_code == 429
        # One read comes back in 1 / 0.01 s.
        assert limited.headers["retry-after"] == "100"
        [error] = limited.json()
        assert error["code"] == 429 and "198.51.100.7" in error["description"]
        as_xml = await http.get(f"{V2}/tokens/{unknown}.xml")
        assert as_xml.status_code == 429
        assert ElementTree.fromstring(as_xml.content).findtext("error/code") == "429"
        assert _public_limited() - before == 2
        # The catalogue reads no database and stays unlimited.
        assert (await http.get(f"{V2}/services.json")).status_code == 200
        # Another address has a bucket of its own.
        async with _from(app, "198.51.100.8") as other:
            assert (await other.get(f"{V2}/tokens/{unknown}.json")).status_code == 404


async def test_an_ipv6_caller_is_limited_by_its_64() -> None:
    unknown = "JSAAAAAAAAAAAAAAAAAAAAAAAA"
    config = settings(public_read_rate_per_s=0.01, public_read_burst=2)
    async with gateway(config) as (_, _broker, app):
        for host, status in (("2001:db8:0:1::1", 404), ("2001:db8:0:1::2", 404), ("2001:db8:0:1::3", 429)):
            async with _from(app, host) as http:
                assert (await http.get(f"{V2}/tokens/{unknown}.json")).status_code == status
        async with _from(app, "2001:db8:0:2::1") as http:
            assert (await http.get(f"{V2}/tokens/{unknown}.json")).status_code == 404


@pytest.mark.parametrize(
    ("host", "caller"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("testclient", "testclient"),
    ],
)
def test_client_network(host: str, caller: str) -> None:
    assert client_network(host) == caller
