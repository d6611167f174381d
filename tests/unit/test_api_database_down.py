"""With the database down, every read and status change answers 503 with Retry-After (problem+json, or a
GeoReport error on Open311), counted; never a 500, which would say there is a bug."""

from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from ingest.tickets import new_ticket_id
from tests.api_support import WEB_KEY, bearer, gateway, settings

DOWNSTREAM_KEY = "dispatch-desk-key-0123456789"
TICKET = "{ticket}"
CALLS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/v1/complaints", None, DOWNSTREAM_KEY),
    ("GET", "/v1/incidents/INC-1", None, DOWNSTREAM_KEY),
    ("GET", f"/v1/complaints/{TICKET}/history", None, DOWNSTREAM_KEY),
    ("GET", "/v1/reports/hourly?date=2024-03-10", None, DOWNSTREAM_KEY),
    ("GET", "/v1/reports/brief", None, DOWNSTREAM_KEY),
    ("GET", "/v1/reports/day?date=2024-03-10", None, DOWNSTREAM_KEY),
    ("GET", f"/v1/complaints/{TICKET}", None, WEB_KEY),
    ("POST", f"/v1/complaints/{TICKET}/status", {"status": "dispatched"}, DOWNSTREAM_KEY),
    ("GET", "/open311/v2/requests.json", None, ""),
    ("GET", f"/open311/v2/tokens/{TICKET}.json", None, ""),
]


def _counted() -> float:
    labels = {"reason": "database_unavailable"}
    return REGISTRY.get_sample_value("jiesu_gateway_rejections_total", labels) or 0.0


@pytest.mark.parametrize(("method", "path", "body", "key"), CALLS, ids=[c[1] for c in CALLS])
async def test_the_database_down_is_a_503_with_retry_after(
    method: str, path: str, body: dict[str, Any] | None, key: str
) -> None:
    # The unit settings' database is unreachable (connections refused).
    config = settings(downstream_keys=f"dispatch:{DOWNSTREAM_KEY}")
    ticket = new_ticket_id(config.ticket_secret, None)
    async with gateway(config) as (http, _, _app):
        before = _counted()
        headers = bearer(key) if key else {}
        answer = await http.request(method, path.format(ticket=ticket), json=body, headers=headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "2"
    assert "database unavailable" in answer.text
    if not path.startswith("/open311"):
        assert answer.headers["content-type"] == "application/problem+json"
        assert _counted() - before == 1


async def test_a_missing_file_is_still_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.routes import dashboard

    def missing(name: str) -> bytes:
        raise FileNotFoundError(2, "No such file or directory", name)

    monkeypatch.setattr(dashboard, "_static", missing)
    async with gateway(settings()) as (_http, _, app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            answer = await client.get("/dashboard")
    assert answer.status_code == 500
