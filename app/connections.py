"""Connection-level limits of the gateway's HTTP server: how long a client may take to send a request.

uvicorn closes a kept-alive connection that stays idle after a response (`timeout_keep_alive`), but nothing
bounds a connection that never sends a request, or sends its headers a byte every few seconds, or starts a
body and stalls: each holds a socket and a file descriptor for as long as the client likes, and enough of
them (slowloris) take the server's connection budget. This protocol adds the two missing deadlines:

- **headers**: from the connection's opening (or the first byte of a further request on it) until its
  headers are complete, `header_timeout_s`;
- **body**: from the headers until the whole body has arrived, `body_timeout_s` (the application may then
  take as long as it needs: that is the produce timeout's business).

A connection past either deadline is closed (counted in `jiesu_gateway_connections_timed_out_total`); a
request whose body was cut off sees `http.disconnect`, as after any client that goes away.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.metrics import TIMED_OUT

_HEADERS, _BODY = TIMED_OUT.labels(stage="headers"), TIMED_OUT.labels(stage="body")


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header and body deadlines (class attributes, set by
    `with_deadlines`).

    A request only notes when its current stage is due (two readings of the loop's clock per request); one
    sweeper task per server closes the connections past it every `sweep_every_s`. A timer per stage (a
    `call_later` and a `cancel` each) cost several microseconds a request, more than the fast lane's whole
    budget for such a change.
    """

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    sweep_every_s: float = 1.0
    # The sweeper of each server's set of connections (by the set's id), while it has connections.
    _sweepers: ClassVar[dict[int, asyncio.Task[None]]] = {}

    # Loop time by which the current stage must be complete, and which stage it is; None: nothing due.
    _due: float | None = None
    _stage: Any = _HEADERS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Open: the first request's headers are due within the header deadline."""
        super().connection_made(transport)
        self._due, self._stage = self.loop.time() + self.header_timeout_s, _HEADERS
        key = id(self.connections)
        if key not in self._sweepers:
            self._sweepers[key] = self.loop.create_task(self._sweep(self.connections, key))

    def on_message_begin(self) -> None:
        """A request starts: its headers are due (a later request's clock starts at its first byte; before
        it, uvicorn's keep-alive timeout bounds the idle connection)."""
        super().on_message_begin()
        if self._due is None:
            self._due, self._stage = self.loop.time() + self.header_timeout_s, _HEADERS

    def on_headers_complete(self) -> None:
        """Headers in: the body is due within the body deadline."""
        super().on_headers_complete()
        self._due, self._stage = self.loop.time() + self.body_timeout_s, _BODY

    def on_message_complete(self) -> None:
        """The whole request arrived: nothing due until the next one begins."""
        super().on_message_complete()
        self._due = None

    def _expire(self) -> None:
        self._due = None
        if not self.transport.is_closing():
            self._stage.inc()
            self.transport.close()

    @classmethod
    async def _sweep(cls, connections: set[Any], key: int) -> None:
        """Close the connections past their deadline, every `sweep_every_s`, until the server has none."""
        try:
            while connections:
                await asyncio.sleep(cls.sweep_every_s)
                now = asyncio.get_running_loop().time()
                for connection in list(connections):
                    due = getattr(connection, "_due", None)
                    if due is not None and now > due:
                        connection._expire()
        finally:
            cls._sweepers.pop(key, None)


def with_deadlines(header_timeout_s: float, body_timeout_s: float) -> type[DeadlineProtocol]:
    """The protocol class with these deadlines, for `uvicorn.run(http=…)`; swept often enough that a
    connection is closed within a quarter of its deadline after it (at most a second)."""
    return type(
        "GatewayProtocol",
        (DeadlineProtocol,),
        {
            "header_timeout_s": header_timeout_s,
            "body_timeout_s": body_timeout_s,
            "sweep_every_s": min(1.0, header_timeout_s / 4, body_timeout_s / 4),
            "_sweepers": {},
        },
    )
