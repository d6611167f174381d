"""The OpenAPI document is the contract: schemathesis generates requests for every operation of the API —
intake, read, lifecycle, schemas, health — (valid and invalid ones) against the ASGI app on the in-process
bus and the real Postgres, and checks that no answer is a 5xx and none falls outside the document (status,
media type, body schema, required headers).

Adapters' keys are sent for the channel of the generated body, WeChat pushes carry a valid signature, and the
read and lifecycle routes get a downstream system's key, so the cases reach the handlers instead of stopping
at 401/403. The figures are printed in the run's summary.
"""

import hashlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

# A dev dependency: without it this module is skipped with the reason, instead of breaking collection.
pytest.importorskip("schemathesis", reason="schemathesis is not installed: pip install -e '.[dev]'")

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.settings import Settings
from tests.api_support import API_KEYS, KEY_OF, WEB_KEY, WECHAT_TOKEN

DOWNSTREAM_KEY = "dispatch-centre-key-0123456789abcdef"
# Routes for downstream systems (app/auth_downstream.py): everything but submitting and a ticket's own read.
DOWNSTREAM_ROUTES = {
    ("GET", "/v1/complaints"),
    ("GET", "/v1/incidents/{incident_id}"),
    ("GET", "/v1/reports/hourly"),
    ("GET", "/v1/reports/brief"),
    ("GET", "/v1/reports/monthly-issues"),
    ("GET", "/v1/reports/rates"),
    ("GET", "/v1/reports/day"),
    ("POST", "/v1/complaints/{ticket_id}/status"),
    ("GET", "/v1/complaints/{ticket_id}/history"),
}
MAX_EXAMPLES = 200
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
AnyCase = schemathesis.Case[Any]
CASES: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()


# The app is built at import time (schemathesis needs its document to generate the tests); the database of
# the run is only known once the `database_url` fixture made it, before the first request starts the lifespan.
CONFIG = Settings(
    kafka_bootstrap_servers="",
    api_keys=API_KEYS,
    wechat_token=WECHAT_TOKEN,
    rate_limit_per_s=100_000,
    rate_limit_burst=100_000,
    # Every generated read comes from one key and one address: limited, most would only be told 429.
    read_rate_per_s=0,
    public_read_rate_per_s=0,
    downstream_keys=f"dispatch:{DOWNSTREAM_KEY}",
)
APP: FastAPI = create_app(CONFIG, broker=in_process_broker(CONFIG))
schema = schemathesis.openapi.from_dict(
    APP.openapi(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                # Reproducible: no replay of examples saved by earlier local runs.
                "database": "none",
                # The adapter keys are ours to send (below); 401s are tested in test_api_auth.
                "with-security-parameters": False,
            }
        }
    ),
)
schema.app = APP
schema.location = "/openapi.json"


@pytest.fixture(scope="module", autouse=True)
def _real_database(database_url: str) -> Iterator[None]:
    CONFIG.database_url = database_url
    yield
    asgi.shutdown_lifespans()


def _authorise(case: AnyCase) -> dict[str, str]:
    """Headers that let the case past authentication: the key of the body's channel, a WeChat signature, a
    downstream system's key."""
    path = case.operation.path
    if (case.operation.method.upper(), path) in DOWNSTREAM_ROUTES:
        return {"Authorization": f"Bearer {DOWNSTREAM_KEY}"}
    if path.startswith("/v1/channels/wechat") and isinstance(case.query, dict):
        timestamp, nonce = str(case.query.get("timestamp", "")), str(case.query.get("nonce", ""))
        joined = "".join(sorted([WECHAT_TOKEN, timestamp, nonce])).encode("utf-8", "surrogatepass")
        case.query["signature"] = hashlib.sha1(joined).hexdigest()
    if path.startswith("/open311/"):
        for where in (case.body, case.query):
            if isinstance(where, dict) and "api_key" in where:
                where["api_key"] = WEB_KEY
    body = case.body
    channel = body.get("channel") if isinstance(body, dict) else None
    key = KEY_OF.get(channel, WEB_KEY) if isinstance(channel, str) else WEB_KEY
    return {"Authorization": f"Bearer {key}"}


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_api_conforms_to_its_openapi_document(case: AnyCase) -> None:
    checks = CHECKS
    if case.operation.path == "/v1/complaints/batch":
        # By design a batch with invalid items is not refused whole: it is a 207 with a 422 per bad item.
        checks = [check for check in CHECKS if check is not negative_data_rejection]
    response = case.call_and_validate(headers=_authorise(case), checks=checks)
    CASES[f"{case.operation.method.upper()} {case.operation.path}"] += 1
    STATUSES[str(response.status_code)] += 1


def figures() -> list[str]:
    """How many cases ran on how many operations, and their statuses: the run's summary (tests/conftest.py's
    pytest_terminal_summary prints it when this module ran)."""
    if not CASES:
        return []
    lines = [f"schemathesis: {sum(CASES.values())} cases on {len(CASES)} operations"]
    lines += [f"  {count:5d}  {op}" for op, count in sorted(CASES.items())]
    lines.append("  statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(STATUSES.items())))
    return lines
