"""The dead-letter topic: records that can never be processed, with the reason, under a rate cap."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

from ingest.bus import BusMessage, BusProducer
from ingest.topics import DLQ, topic_name
from workers.errors import DeadLetterFlood
from workers.metrics import DEAD_LETTERS

log = logging.getLogger("jiesu.worker.dlq")


@dataclass(frozen=True)
class Rejected:
    """A record that can never be processed, and why."""

    message: BusMessage
    reason: str
    stage: str  # decode | database


class DeadLetters:
    """Sends rejected records to the dead-letter topic; stops the worker when they come too fast."""

    def __init__(self, producer: BusProducer, prefix: str, max_per_window: int, window_s: float) -> None:
        self._producer = producer
        self._topic = topic_name(DLQ, prefix)
        self._max = max_per_window
        self._window_s = window_s
        self._recent: deque[float] = deque()

    def _charge(self, count: int) -> None:
        now = time.monotonic()
        while self._recent and now - self._recent[0] > self._window_s:
            self._recent.popleft()
        self._recent.extend([now] * count)
        if len(self._recent) > self._max:
            raise DeadLetterFlood(
                f"{len(self._recent)} dead letters within {self._window_s:.0f}s (cap {self._max}); "
                "stopping rather than draining the topic into the dead-letter queue"
            )

    async def send(self, rejected: list[Rejected]) -> None:
        """Charge the cap, then send each record with its origin and reason in the headers."""
        if not rejected:
            return
        self._charge(len(rejected))
        for item in rejected:
            msg = item.message
            headers = [
                *msg.headers,
                ("dlq_source_topic", msg.topic.encode()),
                ("dlq_source_partition", str(msg.partition).encode()),
                ("dlq_source_offset", str(msg.offset).encode()),
                ("dlq_stage", item.stage.encode()),
                ("dlq_error", item.reason[:1000].encode()),
            ]
            await self._producer.send(self._topic, msg.value, key=msg.key, headers=headers)
            DEAD_LETTERS.labels(stage=item.stage).inc()
            log.warning(
                "dead-lettered a record",
                extra={
                    "partition": msg.partition,
                    "offset": msg.offset,
                    "stage": item.stage,
                    "error": item.reason,
                },
            )
