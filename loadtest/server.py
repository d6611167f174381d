"""The server side of a run, sampled while it lasts: the workers' consumer lag and the processes' CPU.

The simulator's own figures say what the citizens saw; whether the workers kept up is on the other side of
Kafka. While the run sends and drains, the watch reads every `interval_s`:
- the lag of each intake lane: the topic's end offsets minus the workers' group's committed offsets (the
  broker's view, so the partitions of a worker that died count too);
- `process_cpu_seconds_total` from each Prometheus metrics URL it was given (the workers', the gateway's);
- on this machine, the local Kafka's and Postgres's CPU from their pid files, and the whole machine's.
It is bounded: one sample at a time, each read with a timeout, and past `MAX_SAMPLES` it keeps every other
sample and doubles its interval, so a run of any length gives at most `MAX_SAMPLES` points spanning all of it.
A source that cannot be read leaves gaps and a note; it never stops the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ingest.topics import INTAKE, INTAKE_URGENT, lane_group, topic_name
from loadtest.bench import cpu

MAX_SAMPLES = 300
READ_TIMEOUT_S = 2.0
_CPU_LINE = re.compile(r"^process_cpu_seconds_total (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class WatchTargets:
    """What to watch: the Kafka of the intake lanes, the metrics URLs, and whether the machine is ours."""

    kafka: str | None
    topic_prefix: str
    group: str
    metrics: tuple[tuple[str, str], ...] = ()  # (name, URL of a Prometheus /metrics page)
    local: bool = True  # the stack runs on this machine: read its Kafka's, Postgres's and its own CPU
    interval_s: float = 1.0


@dataclass
class _Samples:
    """Sample times (the watch's clock) and, per source, one value per sample (None: not read). CPU seconds
    keep the time each was read at: a scrape of a busy process may answer well after the sample began."""

    t: list[float] = field(default_factory=list)
    lag: dict[str, list[int | None]] = field(default_factory=dict)
    cpu_s: dict[str, list[float | None]] = field(default_factory=dict)
    cpu_at: dict[str, list[float]] = field(default_factory=dict)

    def thin(self) -> None:
        """Keep every other sample: cumulative CPU seconds stay exact over the longer steps."""
        self.t = self.t[::2]
        self.lag = {k: v[::2] for k, v in self.lag.items()}
        self.cpu_s = {k: v[::2] for k, v in self.cpu_s.items()}
        self.cpu_at = {k: v[::2] for k, v in self.cpu_at.items()}


def cpu_line(metrics_text: str) -> float | None:
    """`process_cpu_seconds_total` of a Prometheus exposition page (None when it has none)."""
    found = _CPU_LINE.search(metrics_text)
    return float(found[1]) if found else None


def percent_of_core(t: Sequence[float], seconds: Sequence[float | None]) -> list[float | None]:
    """CPU use between consecutive samples, in % of one core (None where either end is missing)."""
    out: list[float | None] = [None]
    for i in range(1, len(t)):
        a, b, dt = seconds[i - 1], seconds[i], t[i] - t[i - 1]
        out.append(None if a is None or b is None or dt <= 0 else round(max(0.0, b - a) / dt * 100, 1))
    return out


class _Lag:
    """End offsets minus committed offsets of each lane's topic and group, on one admin and one consumer."""

    def __init__(self, bootstrap: str, lanes: dict[str, tuple[str, str]]) -> None:
        self.lanes = lanes
        self.partitions: dict[str, list[TopicPartition]] = {}
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.consumer.stop()
        with contextlib.suppress(Exception):
            await self.admin.close()

    async def read(self) -> dict[str, int | None]:
        return {lane: await self._lane(topic, group) for lane, (topic, group) in self.lanes.items()}

    async def _lane(self, topic: str, group: str) -> int | None:
        tps = self.partitions.get(topic) or await self._partitions(topic)
        if not tps:
            return None
        ends = await self.consumer.end_offsets(tps)
        committed = await self.admin.list_consumer_group_offsets(group, partitions=tps)
        # A partition the group never committed on is read from its beginning (auto_offset_reset earliest).
        uncommitted = [tp for tp in tps if committed.get(tp) is None or committed[tp].offset < 0]
        begins = await self.consumer.beginning_offsets(uncommitted) if uncommitted else {}
        done = {tp: begins[tp] if tp in begins else committed[tp].offset for tp in tps}
        return int(sum(max(0, ends[tp] - done[tp]) for tp in tps))

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        """The topic's partitions, asked once (none while the topic does not exist)."""
        (described,) = await self.admin.describe_topics([topic])
        found = sorted(p["partition"] for p in described["partitions"])
        self.partitions[topic] = [TopicPartition(topic, p) for p in found]
        return self.partitions[topic]


def _own_seconds() -> float:
    """The simulator's own CPU seconds: it shares the machine with what it measures."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _local_processes() -> dict[str, Callable[[], float]]:
    """CPU-second readers of the local Kafka and Postgres, when their pid files are there."""
    readers: dict[str, Callable[[], float]] = {}
    for name, pid_file, read in (
        ("kafka", cpu.KAFKA_PID_FILE, cpu.process_seconds),
        ("postgres", cpu.POSTMASTER_PID_FILE, cpu.postgres_seconds),
    ):
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().split()[0])
            if read(pid) > 0:
                readers[name] = lambda read=read, pid=pid: read(pid)  # type: ignore[misc]
    return readers


class ServerWatch:
    """Samples the targets until stopped; `section()` is the report's `server` part."""

    def __init__(self, targets: WatchTargets, clock: Callable[[], float] = time.perf_counter) -> None:
        self.targets = targets
        self.clock = clock
        self.interval_s = targets.interval_s
        self.samples = _Samples()
        self.notes: list[str] = []
        self.failures: dict[str, int] = {}
        self._lag: _Lag | None = None
        self._local: dict[str, Callable[[], float]] = {}
        self._http: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect to what can be read (noting what cannot) and start sampling."""
        t = self.targets
        if t.kafka:
            lanes = {
                lane: (topic_name(spec, t.topic_prefix), lane_group(t.group, lane))
                for lane, spec in (("normal", INTAKE), ("urgent", INTAKE_URGENT))
            }
            lag = _Lag(t.kafka, lanes)
            try:
                await asyncio.wait_for(lag.start(), 10.0)
                self._lag = lag
            except Exception as exc:  # the run goes on without the lag; the report says why
                await lag.stop()
                self.notes.append(f"consumer lag not read: Kafka {t.kafka}: {type(exc).__name__}: {exc}")
        else:
            self.notes.append("consumer lag not read: no Kafka address")
        if not any(name != "gateway" for name, _ in t.metrics):
            self.notes.append(
                "workers' CPU not read: no worker metrics URL (--worker-metrics, or "
                "JIESU_WORKER_METRICS_URLS, which make up writes into .data/services.env)"
            )
        if t.local:
            self._local = _local_processes()
        self._local["simulator"] = _own_seconds
        self._http = httpx.AsyncClient(timeout=READ_TIMEOUT_S)
        await self._sample()  # the baseline, before the first request
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Take a last sample and release the connections (once; later calls do nothing)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not self.samples.t or self.clock() - self.samples.t[-1] >= self.interval_s / 2:
            await self._sample()  # the end of the drain, unless the last sample was just taken
        if self._lag is not None:
            await self._lag.stop()
        if self._http is not None:
            await self._http.aclose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(max(0.0, self.interval_s - (self.clock() - self.samples.t[-1])))
            await self._sample()
            if len(self.samples.t) > MAX_SAMPLES:
                self.samples.thin()
                self.interval_s *= 2

    async def _sample(self) -> None:
        """One reading of every source, added whole at the end: a sample cut short by `stop()` leaves none
        of its values behind, so every series keeps one value per sample time."""
        s = self.samples
        started = self.clock()
        # The local readings first: they are instant, the network ones may wait on a busy process.
        values: dict[str, tuple[float, float | None]] = {}
        for name, read in self._local.items():
            values[name] = (self.clock(), read())
        if self.targets.local:
            values["machine"] = (self.clock(), cpu.machine_busy_seconds())
        for name, url in self.targets.metrics:
            value = await self._read(name, self._scrape(url))
            values[name] = (self.clock(), value)
        lag = await self._read("kafka", self._lag.read()) if self._lag is not None else None
        earlier = list(s.t)
        s.t.append(started)
        for lane in ("normal", "urgent") if self._lag is not None else ():
            s.lag.setdefault(lane, []).append(None if lag is None else lag.get(lane))
        for name, (at, value) in values.items():
            s.cpu_s.setdefault(name, [None] * len(earlier)).append(value)
            s.cpu_at.setdefault(name, list(earlier)).append(at)

    async def _scrape(self, url: str) -> float | None:
        assert self._http is not None
        response = await self._http.get(url)
        response.raise_for_status()
        return cpu_line(response.text)

    async def _read(self, source: str, pending: Any) -> Any:
        """`pending`'s result, or None (counted) when it fails or takes longer than READ_TIMEOUT_S."""
        try:
            return await asyncio.wait_for(pending, READ_TIMEOUT_S)
        except Exception:  # a source that is down is a gap in its line, counted in the report
            self.failures[source] = self.failures.get(source, 0) + 1
            return None

    def section(self, origin: float) -> dict[str, Any]:
        """The report's `server` section; times in seconds since `origin` (the first request's due time)."""
        s = self.samples
        t = [round(x - origin, 3) for x in s.t]
        cpu_pct = {name: percent_of_core(s.cpu_at[name], values) for name, values in s.cpu_s.items()}
        mean = {name: _mean_percent(s.cpu_at[name], values) for name, values in s.cpu_s.items()}
        if "machine" in cpu_pct and len(cpu_pct) > 1:
            # What the machine spent on anything but the processes named: other work sharing it.
            named = [v for k, v in cpu_pct.items() if k != "machine"]
            cpu_pct["other"] = [_rest(m, [v[i] for v in named]) for i, m in enumerate(cpu_pct["machine"])]
            means = [v for k, v in mean.items() if k != "machine"]
            mean["other"] = _rest(mean["machine"], means)
        notes = list(self.notes)
        notes += [
            f"{name}: {n:,} of {len(t):,} samples not read" for name, n in sorted(self.failures.items())
        ]
        return {
            "interval_s": self.interval_s,
            "samples": len(t),
            "t": t,
            "lag": s.lag,
            "lag_source": (
                f"end offsets − committed offsets of group {self.targets.group} (and its urgent lane's)"
                if s.lag
                else None
            ),
            "cpu_pct": cpu_pct,
            "cores": os.cpu_count(),
            "summary": {
                "lag_max": {lane: _max(v) for lane, v in s.lag.items()},
                "lag_at_end": {lane: v[-1] if v else None for lane, v in s.lag.items()},
                "cpu_mean_pct": mean,
                "cpu_max_pct": {name: _max(v) for name, v in cpu_pct.items()},
            },
            "notes": notes,
        }


def _max(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _rest(total: float | None, parts: Sequence[float | None]) -> float | None:
    """`total` less the `parts` (None when any is unknown), never below 0."""
    if total is None or any(p is None for p in parts):
        return None
    return round(max(0.0, total - sum(p for p in parts if p is not None)), 1)


def _mean_percent(t: Sequence[float], seconds: Sequence[float | None]) -> float | None:
    """CPU use from the first to the last sample read, in % of one core."""
    known = [(a, b) for a, b in zip(t, seconds, strict=True) if b is not None]
    if len(known) < 2 or known[-1][0] <= known[0][0]:
        return None
    return round((known[-1][1] - known[0][1]) / (known[-1][0] - known[0][0]) * 100, 1)
