"""The gateway's connection limits on a real uvicorn on 127.0.0.1, with real sockets: slow headers and slow
bodies are cut off, idle connections do not slow the others, and a keyless body is refused unread."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from ingest.settings import Settings
from tests.api_support import API_KEYS, UNREACHABLE_DB, WEB_KEY
from tests.integration.helpers import free_port, served

HEADER_TIMEOUT_S, BODY_TIMEOUT_S = 1.0, 1.5


@pytest.fixture(scope="module")
def gateway() -> Iterator[int]:
    """A keyed gateway served by uvicorn with the gateway's own options, in a thread; its port."""
    settings = Settings(
        kafka_bootstrap_servers="",
        database_url=UNREACHABLE_DB,
        api_keys=API_KEYS,
        host="127.0.0.1",
        port=free_port(),
        header_timeout_s=HEADER_TIMEOUT_S,
        body_timeout_s=BODY_TIMEOUT_S,
        log_level="WARNING",
    )
    with served(settings) as port:
        yield port


def _closed_after(sock: socket.socket, trickle: bytes, every_s: float, limit_s: float) -> float | None:
    """Send `trickle` a byte every `every_s` until the server closes the connection; the seconds it took."""
    started = time.monotonic()
    sock.settimeout(every_s)
    for byte in trickle:
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
        if time.monotonic() - started > limit_s:
            return None
    return None


def test_trickled_headers_are_cut_off(gateway: int) -> None:
    with socket.create_connection(("127.0.0.1", gateway)) as sock:
        trickle = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
        took = _closed_after(sock, trickle, 0.2, 15)
    assert took is not None and took < HEADER_TIMEOUT_S + 1


def test_a_stalled_body_is_cut_off(gateway: int) -> None:
    with socket.create_connection(("127.0.0.1", gateway)) as sock:
        sock.sendall(
            b"POST /v1/complaints HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + WEB_KEY.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        took = _closed_after(sock, b"a" * 1000, 0.3, 15)
    assert took is not None and took < BODY_TIMEOUT_S + 1


def healthz_timings(port: int, count: int) -> list[float]:
    """Seconds each of `count` GET /healthz took on one kept-alive connection (after a first, untimed)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        http.get("/healthz")
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            timings.append(time.perf_counter() - started)
    return timings


def test_a_thousand_idle_connections_leave_healthz_fast_and_are_closed(gateway: int) -> None:
    idle = [socket.create_connection(("127.0.0.1", gateway)) for _ in range(1000)]
    try:
        timings = healthz_timings(gateway, 20)
        assert max(timings) < 0.1, timings
        time.sleep(HEADER_TIMEOUT_S + 1)
        for sock in idle:
            sock.settimeout(2)
            assert sock.recv(1) == b""  # closed by the server: never sent a request
    finally:
        for sock in idle:
            sock.close()


def test_a_large_body_without_a_key_is_refused_before_it_is_read(gateway: int) -> None:
    with socket.create_connection(("127.0.0.1", gateway), timeout=5) as sock:
        # 15 MB announced, none of it sent: the 401 comes from the headers alone.
        sock.sendall(
            b"POST /v1/complaints/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 15000000\r\n\r\n"
        )
        answer = b""
        while b"missing API key" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"missing API key" in answer


def test_past_the_connection_limit_requests_get_503() -> None:
    settings = Settings(
        kafka_bootstrap_servers="",
        database_url=UNREACHABLE_DB,
        host="127.0.0.1",
        port=free_port(),
        max_connections=20,
        log_level="WARNING",
    )
    with served(settings) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        assert http.get("/healthz").status_code == 200
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(settings.max_connections)]
        try:
            time.sleep(0.2)  # the server has taken them in
            assert http.get("/healthz").status_code == 503
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.2)
        assert http.get("/healthz").status_code == 200
