"""A slice of the malformed requests against the real gateway process (`python -m app` on the real Kafka),
plus malformed HTTP that only a real server sees: each refused, the process alive, the intake topic empty.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import given, settings

from ingest.settings import Settings
from tests.chaos.processes import Processes, processes
from tests.fuzz.conftest import FuzzFigures, assert_refused, examples
from tests.fuzz.strategies import MALFORMED, Case
from tests.integration.helpers import read_intake

PROFILE = settings.get_profile("jiesu-fuzz")
pytestmark = pytest.mark.fuzz

# Requests a real HTTP server has to parse before any application code runs.
RAW_HTTP: dict[str, bytes] = {
    "garbage_request_line": b"GARBAGE\r\n\r\n",
    "nul_in_header_name": (
        b"POST /v1/complaints HTTP/1.1\r\nHost: x\r\nX-A\x00: b\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "bad_chunk_size": (
        b"POST /v1/complaints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n"
    ),
    "length_and_chunked": (
        b"POST /v1/complaints HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "negative_length": b"POST /v1/complaints HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "huge_header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    "http_0_9": b"GET /\r\n",
    "chunked_over_limit": (
        b"POST /v1/complaints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"10000\r\n" + b"a" * 0x10000 + b"\r\n" for _ in range(40))
        + b"0\r\n\r\n"
    ),
    "short_body": (
        b"POST /v1/complaints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 5\r\nConnection: close\r\n\r\n{"cha'
    ),
}


def _raw_exchange(port: int, payload: bytes, timeout_s: float = 5) -> bytes:
    """Send raw bytes, half-close, and read what comes back until the server closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def _start_gateway(procs: Processes) -> str:
    gateway = procs.gateway()
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            assert gateway.alive, gateway.log_tail()
            try:
                if http.get(f"{gateway.url}/readyz").status_code == 200:
                    return gateway.url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise AssertionError(f"gateway not ready\n{gateway.log_tail()}")


def test_real_gateway_refuses_malformed_requests(
    stack_settings: Settings, fuzz_figures: FuzzFigures, tmp_path: Path
) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": stack_settings.kafka_bootstrap_servers,
        "DATABASE_URL": stack_settings.database_url,
        "JIESU_TOPIC_PREFIX": stack_settings.topic_prefix,
        "JIESU_LOG_LEVEL": "WARNING",
    }
    prefix = stack_settings.topic_prefix
    with processes(env, tmp_path) as procs:
        url = _start_gateway(procs)
        port = int(url.rsplit(":", 1)[1])
        gateway = procs.started[0]
        with httpx.Client(base_url=url, timeout=30) as http:

            @settings(PROFILE, max_examples=examples(400))
            @given(case=MALFORMED)
            def refused(case: Case) -> None:
                headers = dict(case.headers)
                if case.content_type is not None:
                    headers["content-type"] = case.content_type
                resp = http.request(case.method, case.path, content=case.body, headers=headers)
                fuzz_figures.count("real_process_malformed", case.kind, resp.status_code)
                assert_refused(case, resp)

            refused()
            for name, payload in RAW_HTTP.items():
                answer = _raw_exchange(port, payload)
                status = (
                    answer[9:12].decode("ascii", "replace") if answer.startswith(b"HTTP/1.1 ") else "closed"
                )
                fuzz_figures.count("real_process_raw_http", name, status)
                # never a 5xx; a submission never accepted (uvicorn with httptools takes a 200 KB header
                # line: header size is the fronting proxy's to bound)
                turned_away = status == "closed" or status.startswith("4")
                harmless = not payload.startswith(b"POST") and status.startswith("2")
                assert turned_away or harmless, f"{name}: {answer[:300]!r}"
                assert gateway.alive, f"the gateway died on {name}\n{gateway.log_tail()}"
            assert http.get("/healthz").status_code == 200
            bootstrap = stack_settings.kafka_bootstrap_servers
            assert asyncio.run(read_intake(bootstrap, prefix, expect=1, timeout_s=3)) == []
            # the control: the same process does accept a valid submission, and it is the only record
            valid = {"channel": "web", "external_id": "fuzz-control", "content": "路灯坏了", "citizen": {}}
            control = http.post(
                "/v1/complaints", content=orjson.dumps(valid), headers={"content-type": "application/json"}
            )
            assert control.status_code == 202, control.text
    records = asyncio.run(read_intake(bootstrap, prefix, expect=2, timeout_s=5))
    assert [orjson.loads(value)["ticket_id"] for _, value in records] == [control.json()["ticket_id"]]
