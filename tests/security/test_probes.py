"""Every probe of tests/security/probes.py against the gateway, and the probes of start-up and source; the
results go to .data/security-report.json (each probe, what it tries, expected, actual, what was stored;
tests/security/conftest.py writes it)."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import yaml

from app import auth, auth_downstream, wechat, wechat_crypto
from app.__main__ import refuse_open_beyond_loopback
from ingest.settings import REPO_ROOT, Settings
from tests.api_support import WEB_KEY, accepted_records, bearer, gateway, settings
from tests.security.probes import DOWNSTREAM_KEY, PROBES, READ_BURST, WEB, Probe


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


def _record(results: list[dict[str, Any]], probe: str, tries: str, expected: Any, actual: Any) -> bool:
    """A probe without HTTP requests of its own (start-up, configuration, source) in the report."""
    ok = bool(actual == expected)
    results.append(
        {"probe": probe, "tries": tries, "expected": expected, "actual": actual, "stored": [], "ok": ok}
    )
    return ok


def test_probe_open_beyond_loopback_refuses_to_start(results: list[dict[str, Any]]) -> None:
    config = Settings(host="0.0.0.0", api_keys="", downstream_keys="")
    with pytest.raises(SystemExit) as exited:
        refuse_open_beyond_loopback(config)
    tries = "start the gateway on 0.0.0.0 without adapter keys, downstream keys or a ticket secret"
    assert _record(results, "open_gateway_beyond_loopback", tries, 78, exited.value.code)


def test_probe_an_allowed_open_gateway_says_so_at_start_up(
    results: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    config = Settings(host="0.0.0.0", api_keys="", downstream_keys="", allow_open=True)
    with caplog.at_level(logging.WARNING, logger="jiesu.gateway"):
        refuse_open_beyond_loopback(config)
    warned = [r.getMessage() for r in caplog.records if r.name == "jiesu.gateway"]
    named = bool(warned) and all(gap in warned[0] for gap in config.open_to)
    tries = "start the gateway on 0.0.0.0 without keys but with JIESU_ALLOW_OPEN=true"
    assert _record(
        results,
        "open_gateway_allowed_warns",
        tries,
        "a warning naming what is open",
        ("a warning naming what is open" if named else f"warned: {warned}"),
    )


async def test_probe_an_allowed_open_gateway_says_so_in_readyz(
    database_url: str, results: list[dict[str, Any]]
) -> None:
    config = Settings(
        kafka_bootstrap_servers="", database_url=database_url, host="0.0.0.0", api_keys="", allow_open=True
    )
    async with gateway(config) as (client, _, _app):
        ready = (await client.get("/readyz")).json()
    tries = "/readyz of a gateway on 0.0.0.0 left open with JIESU_ALLOW_OPEN=true"
    assert _record(results, "open_gateway_allowed_in_readyz", tries, config.open_to, ready.get("open_to"))


def test_probe_compose_requires_its_secrets(results: list[dict[str, Any]]) -> None:
    compose = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text(encoding="utf-8"))
    environment = compose["services"]["gateway"]["environment"]
    required = ("JIESU_TICKET_SECRET", "JIESU_API_KEYS", "JIESU_DOWNSTREAM_KEYS", "DATABASE_URL")
    # `${NAME:?message}`: compose refuses to start while NAME is unset or empty.
    missing = [name for name in required if ":?" not in str(environment.get(name, ""))]
    tries = "compose.yaml's gateway without its ticket secret, keys or database password"
    assert _record(results, "compose_requires_secrets", tries, [], missing)


async def test_probe_the_intake_key_is_a_keyed_hash(
    http: tuple[httpx.AsyncClient, Any], results: list[dict[str, Any]]
) -> None:
    client, broker = http
    body = {**WEB, "external_id": "key-probe"}
    assert (await client.post("/v1/complaints", json=body, headers=bearer(WEB_KEY))).status_code == 202
    [record] = accepted_records(broker)
    key = (record.key or b"").decode()
    plain = "13800138000" in key or key.startswith(("tel:", "wx:"))
    tries = "read the intake topic's record key of a submission with a phone number"
    assert _record(results, "intake_key_hashed", tries, "c:<keyed hash>", key if plain else "c:<keyed hash>")


def test_probe_secrets_are_compared_in_constant_time(results: list[dict[str, Any]]) -> None:
    # Keys, request signatures, WeChat signatures and AppIDs: every comparison of a secret goes through
    # hmac.compare_digest, and none through `==` on the secret itself.
    modules = (auth, auth_downstream, wechat, wechat_crypto)
    sources = {m.__name__: inspect.getsource(m) for m in modules}
    missing = [name for name, source in sources.items() if "hmac.compare_digest" not in source]
    tries = "read the key, signature and AppID comparisons of " + ", ".join(sources)
    actual = f"missing in {missing}" if missing else "hmac.compare_digest in each"
    assert _record(results, "constant_time_comparisons", tries, "hmac.compare_digest in each", actual)
