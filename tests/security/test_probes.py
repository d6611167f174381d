"""Every probe of tests/security/probes.py against the gateway, and the probes of start-up and source; the
results go to .data/security-report.json (each probe, what it tries, expected, actual, what was stored)."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app import auth, auth_downstream, wechat, wechat_crypto
from app.__main__ import refuse_open_beyond_loopback
from ingest.settings import REPO_ROOT, Settings
from tests.api_support import accepted_records, gateway, settings
from tests.security.probes import DOWNSTREAM_KEY, PROBES, READ_BURST, Probe

REPORT = REPO_ROOT / ".data" / "security-report.json"


@pytest.fixture(scope="module")
def results() -> Iterator[list[dict[str, Any]]]:
    """The probes' results, written to the report once the module's probes have run."""
    found: list[dict[str, Any]] = []
    yield found
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "probes": len(found),
        "as_expected": sum(r["ok"] for r in found),
        "results": sorted(found, key=lambda r: r["probe"]),
    }
    REPORT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.fixture
async def http() -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    config = settings(
        downstream_keys=f"dispatch:{DOWNSTREAM_KEY}",
        invalid_burst=3,
        invalid_rate_per_s=0.01,
        read_burst=READ_BURST,
        read_rate_per_s=0.01,
        public_read_burst=READ_BURST,
        public_read_rate_per_s=0.01,
    )
    async with gateway(config) as (client, broker, _):
        yield client, broker


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
async def test_probe(
    probe: Probe, http: tuple[httpx.AsyncClient, Any], results: list[dict[str, Any]]
) -> None:
    client, broker = http
    statuses, said = [], ""
    for request in probe.requests():
        answer = await client.request(
            request.method, request.path, content=request.body, headers=request.headers, params=request.params
        )
        statuses.append(answer.status_code)
        said = answer.text[:300]
    stored = [json.loads(m.value) for m in accepted_records(broker)]
    results.append(
        {
            "probe": probe.name,
            "tries": probe.tries,
            "expected": probe.expected,
            "actual": statuses[-1],
            "statuses": statuses,
            "answer": said,
            "stored": [{"ticket_id": r["ticket_id"], "channel": r["channel"]} for r in stored],
            "ok": statuses[-1] == probe.expected and len(stored) <= probe.may_store,
        }
    )
    assert statuses[-1] == probe.expected, statuses
    assert len(stored) <= probe.may_store, stored


def test_probe_open_beyond_loopback_refuses_to_start(results: list[dict[str, Any]]) -> None:
    config = Settings(host="0.0.0.0", api_keys="", downstream_keys="")
    with pytest.raises(SystemExit) as exited:
        refuse_open_beyond_loopback(config)
    results.append(
        {
            "probe": "open_gateway_beyond_loopback",
            "tries": "start the gateway on 0.0.0.0 without adapter keys, downstream keys or a ticket secret",
            "expected": 78,
            "actual": exited.value.code,
            "stored": [],
            "ok": exited.value.code == 78,
        }
    )
    assert exited.value.code == 78


def test_probe_secrets_are_compared_in_constant_time(results: list[dict[str, Any]]) -> None:
    # Keys, request signatures, WeChat signatures and AppIDs: every comparison of a secret goes through
    # hmac.compare_digest, and none through `==` on the secret itself.
    modules = (auth, auth_downstream, wechat, wechat_crypto)
    sources = {m.__name__: inspect.getsource(m) for m in modules}
    missing = [name for name, source in sources.items() if "hmac.compare_digest" not in source]
    results.append(
        {
            "probe": "constant_time_comparisons",
            "tries": "read the key, signature and AppID comparisons of " + ", ".join(sources),
            "expected": "hmac.compare_digest in each",
            "actual": f"missing in {missing}" if missing else "hmac.compare_digest in each",
            "stored": [],
            "ok": not missing,
        }
    )
    assert not missing
