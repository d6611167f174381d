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

from prometheus_client import Counter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.metrics import TIMED_OUT

_HEADERS, _BODY = TIMED_OUT.labels(stage="headers"), TIMED_OUT.labels(stage="body")


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header and body deadlines (class attributes, set by
    `with_deadlines`)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    _deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, stage: Counter) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, stage)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, stage: Counter) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            stage.inc()
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Open: the first request's headers are due within the header deadline."""
        super().connection_made(transport)
        self._arm(self.header_timeout_s, _HEADERS)

    def on_message_begin(self) -> None:
        """A request starts: its headers are due (a later request's clock starts at its first byte; before
        it, uvicorn's keep-alive timeout bounds the idle connection)."""
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.header_timeout_s, _HEADERS)

    def on_headers_complete(self) -> None:
        """Headers in: the body is due within the body deadline."""
        super().on_headers_complete()
        self._arm(self.body_timeout_s, _BODY)

    def on_message_complete(self) -> None:
        """The whole request arrived: no deadline until the next one begins."""
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed: nothing left to time out."""
        self._disarm()
        super().connection_lost(exc)


def with_deadlines(header_timeout_s: float, body_timeout_s: float) -> type[DeadlineProtocol]:
    """The protocol class with these deadlines, for `uvicorn.run(http=…)`."""
    return type(
        "GatewayProtocol",
        (DeadlineProtocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )
