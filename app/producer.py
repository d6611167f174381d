"""The gateway's hold on the bus: starts even while Kafka is down, bounds what waits for it, knows its health.

Wraps a `BusProducer` built by a factory. When the bus cannot be reached at start-up the gateway starts
anyway, answers 503 and reports unready, and connects in the background until the bus comes. Every send has
the configured budget (`produce_timeout_s`), which the producer keeps itself (ingest/bus/base.py,
BusProducer); a send that failed within the last few seconds, with no success since, keeps `/readyz`
unready; more than `max_in_flight` sends waiting for acknowledgements get 503 at once instead of queueing
without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from ingest.bus import BusProducer, BusUnavailable
from ingest.bus.base import Headers, Outgoing

log = logging.getLogger("jiesu.gateway")

# How long a failed send keeps the gateway unready (unless a send succeeds meanwhile).
UNREADY_AFTER_FAILURE_S = 5.0
_RECONNECT_MIN_S = 0.5
# How much longer than the budget a batch send may take before the gateway gives up on the producer.
_GUARD_S = 1.0
_RECONNECT_MAX_S = 5.0


class GatewayProducer:
    """A BusProducer that tolerates a missing bus at start-up and fails fast and bounded afterwards."""

    def __init__(
        self,
        factory: Callable[[], BusProducer],
        budget_s: float,
        max_in_flight: int = 20000,
        start_timeout_s: float | None = None,
    ) -> None:
        self._factory = factory
        self._budget_s = budget_s
        self._max_in_flight = max_in_flight
        self._start_timeout_s = start_timeout_s or max(5.0, 2 * budget_s)
        self._inner: BusProducer | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._last_failure = 0.0
        self._last_success = 0.0

    @property
    def connected(self) -> bool:
        """True once the underlying producer has started."""
        return self._inner is not None

    async def _connect_once(self) -> None:
        producer = self._factory()
        try:
            async with asyncio.timeout(self._start_timeout_s):
                await producer.start()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await producer.stop()
            if isinstance(exc, TimeoutError):
                raise BusUnavailable(f"bus did not answer within {self._start_timeout_s}s") from exc
            raise
        self._inner = producer

    async def _keep_connecting(self) -> None:
        pause = _RECONNECT_MIN_S
        while self._inner is None:
            await asyncio.sleep(pause)
            try:
                await self._connect_once()
            except Exception as exc:  # whatever the client raises, try again later
                log.debug("bus still unreachable: %s", exc)
                pause = min(_RECONNECT_MAX_S, pause * 2)
        log.info("bus reachable: the gateway accepts submissions")

    async def start(self) -> None:
        """Connect, or, if the bus is unreachable, log it and keep connecting in the background."""
        try:
            await self._connect_once()
        except Exception as exc:  # start anyway: 503 and unready until the bus comes
            log.warning("bus unreachable at start-up (%s): answering 503 until it comes", exc)
            self._connecting = asyncio.create_task(self._keep_connecting(), name="bus-connect")

    async def stop(self) -> None:
        """Stop connecting, flush and disconnect."""
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._inner is not None:
            await self._inner.stop()

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        """Send and wait for the acknowledgement within the budget; BusUnavailable otherwise."""
        inner = self._inner
        if inner is None:
            raise BusUnavailable("not connected to the bus yet")
        if self._in_flight >= self._max_in_flight:
            raise BusUnavailable(f"{self._in_flight} submissions already wait for the bus")
        self._in_flight += 1
        try:
            # Every BusProducer keeps the budget it was built with (make_producer gives it produce_timeout_s)
            # and raises BusUnavailable past it: no timeout of our own on the hot path.
            await inner.send(topic, value, key=key, headers=headers)
        except BusUnavailable:
            self._last_failure = time.monotonic()
            raise
        finally:
            self._in_flight -= 1
        self._last_success = time.monotonic()

    async def send_many(self, records: Sequence[Outgoing]) -> list[BusUnavailable | None]:
        """Send many records at once, each acknowledged or not on its own within one budget; per record,
        None when acknowledged, else the BusUnavailable it would have raised alone."""
        inner = self._inner
        if inner is None:
            return [BusUnavailable("not connected to the bus yet")] * len(records)
        room = max(0, self._max_in_flight - self._in_flight)
        admitted = records[:room]
        refused = BusUnavailable(f"{self._in_flight + len(admitted)} submissions already wait for the bus")
        self._in_flight += len(admitted)
        try:
            # The producer keeps the budget itself; one guard for the whole batch in case one does not.
            async with asyncio.timeout(self._budget_s + _GUARD_S):
                outcomes = await inner.send_many(admitted)
        except TimeoutError:
            outcomes = [BusUnavailable(f"no acknowledgement from the bus within {self._budget_s}s")] * len(
                admitted
            )
        finally:
            self._in_flight -= len(admitted)
        outcomes = [*outcomes, *[refused] * (len(records) - len(admitted))]
        if any(o is not None for o in outcomes):
            self._last_failure = time.monotonic()
        if any(o is None for o in outcomes):
            self._last_success = time.monotonic()
        return outcomes

    def degraded(self) -> bool:
        """True when the latest send failed, recently, and none succeeded since."""
        failed = self._last_failure
        return failed > self._last_success and time.monotonic() - failed < UNREADY_AFTER_FAILURE_S

    async def ready(self) -> bool:
        """Connected, not degraded, and the bus answers right now."""
        inner = self._inner
        return inner is not None and not self.degraded() and await inner.ready()
