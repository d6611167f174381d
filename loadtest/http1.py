"""A small HTTP/1.1 client for the hot path: keep-alive connections, one request at a time on each.

httpx costs about a millisecond of CPU per request here, most of it in its connection pool's bookkeeping, and
the load generator shares the machine with the server it measures. This client does only what the simulator
needs: POST a body, read the status and the body (Content-Length, chunked, or until close), keep the
connection for the next request. At most as many connections exist as requests are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024
_NO_BODY = {204, 304}


class ProtocolError(Exception):
    """The server's answer was not HTTP/1.1 as expected."""


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: int = 0

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True)
class Response:
    """Status, lower-cased headers and body of one answer."""

    status: int
    headers: dict[str, str]
    body: bytes


class Http1Pool:
    """Keep-alive connections to one origin; `request()` is safe to call from many tasks at once."""

    def __init__(self, base_url: str, *, connect_timeout_s: float = 5.0) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if url.scheme == "https" else None
        default_port = self.port == (443 if url.scheme == "https" else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if default_port else f"{host}:{self.port}"
        self.prefix = url.path.rstrip("/")
        self.connect_timeout_s = connect_timeout_s
        self._idle: list[_Conn] = []
        self.opened = 0

    async def _connect(self) -> _Conn:
        async with asyncio.timeout(self.connect_timeout_s):
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.ssl, limit=_MAX_HEAD
            )
        self.opened += 1
        return _Conn(reader, writer)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        """Send one request and read its answer; raises OSError, TimeoutError (from the caller's timeout)
        or ProtocolError. A kept-alive connection the server had closed is retried once on a new one."""
        head = self._head(method, path, body, headers or {})
        while True:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            try:
                conn.writer.write(head + body)
                await conn.writer.drain()
                resp, keep = await _read_response(conn.reader)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                conn.close()
                if reused:  # the server had dropped this idle connection: try the next one, or a new one
                    continue
                raise ConnectionError(f"connection lost: {exc!r}") from exc
            except BaseException:
                conn.close()  # timeouts and cancellation leave the connection in an unknown state
                raise
            conn.used += 1
            if keep:
                self._idle.append(conn)
            else:
                conn.close()
            return resp

    def _head(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def aclose(self) -> None:
        """Close every idle connection."""
        while self._idle:
            conn = self._idle.pop()
            conn.close()
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    """Read one response; also say whether the connection may be used again."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("response head too large") from exc
    lines = raw[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
    if status in _NO_BODY or 100 <= status < 200:
        return Response(status, headers, b""), keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Response(status, headers, await _read_chunked(reader)), keep
    if "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError as exc:
            raise ProtocolError("bad Content-Length") from exc
        return Response(status, headers, await reader.readexactly(length)), keep
    return Response(status, headers, await reader.read()), False


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise ProtocolError("bad chunk size") from exc
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, if any
                pass
            return b"".join(chunks)
        chunks.append((await reader.readexactly(size + 2))[:-2])
