"""The simulator's HTTP/1.1 client against a tiny server on 127.0.0.1: framing, keep-alive, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from loadtest.http1 import Http1Pool, ProtocolError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    return await reader.readexactly(length)


def _answer(status: int, body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def test_keep_alive_reuses_one_connection_and_frames_bodies() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                body = await _read_request(reader)
                if body == b"chunked":
                    writer.write(b"HTTP/1.1 202 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    writer.write(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                else:
                    writer.write(_answer(202, b'{"echo":' + body + b"}"))
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    async with serve(handler) as url:
        pool = Http1Pool(url)
        for i in range(5):
            resp = await pool.request("POST", "/v1/complaints", str(i).encode(), {"X-A": "1"})
            assert resp.status == 202 and resp.body == b'{"echo":' + str(i).encode() + b"}"
        assert (await pool.request("POST", "/", b"chunked")).body == b"abcde"
        await pool.aclose()
    assert connections == 1


async def test_connection_close_and_stale_connections_are_handled() -> None:
    async def close_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer(422, b"bad", "Connection: close\r\n"))
        await writer.drain()
        writer.close()

    async with serve(close_each) as url:
        pool = Http1Pool(url)
        for _ in range(3):
            assert (await pool.request("POST", "/", b"{}")).status == 422
        assert pool.opened == 3

    served = 0

    async def drop_idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Answers one request keeping the connection open, then drops it: the client's idle one goes stale.
        nonlocal served
        await _read_request(reader)
        served += 1
        writer.write(_answer(202, b"{}"))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    async with serve(drop_idle) as url:
        pool = Http1Pool(url)
        assert (await pool.request("POST", "/", b"{}")).status == 202
        await asyncio.sleep(0.2)
        assert (await pool.request("POST", "/", b"{}")).status == 202  # retried on a fresh connection
        assert served == 2 and pool.opened == 2


async def test_failures_surface_as_errors() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with serve(hang) as url:
        pool = Http1Pool(url)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await pool.request("POST", "/", b"{}")

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        writer.close()

    async with serve(garbage) as url:
        with pytest.raises(ProtocolError):
            await Http1Pool(url).request("POST", "/", b"{}")

    async with serve(garbage) as url:
        pass  # closed: nothing listens on the port any more
    with pytest.raises(OSError):
        await Http1Pool(url).request("POST", "/", b"{}")
