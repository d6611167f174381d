"""The gateway and worker processes (`python -m app`, `python -m workers`) of one scenario."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ingest.settings import REPO_ROOT


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    """One gateway or worker process: its HTTP port (the gateway's API, a worker's metrics) and its log."""

    name: str
    kind: str  # gateway | worker
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes]
    _log: IO[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        """Base URL of the process's HTTP port."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit status once it has exited (negative: killed by that signal)."""
        return self.proc.poll()

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` if the process still runs."""
        if self.alive:
            self.proc.send_signal(sig)

    async def wait_exit(self, timeout_s: float) -> int | None:
        """The exit status, waiting up to `timeout_s`; None if it still runs."""
        try:
            return await asyncio.to_thread(self.proc.wait, timeout_s)
        except subprocess.TimeoutExpired:
            return None

    async def metrics(self) -> dict[str, float]:
        """The process's Prometheus samples, summed over labels: {sample name: value}."""
        async with httpx.AsyncClient(timeout=3) as http:
            text = (await http.get(f"{self.url}/metrics")).text
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
        return out

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's log, for failure messages."""
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(text[-lines:])

    def close(self) -> None:
        """Close the log file (after the process has exited)."""
        self._log.close()


@dataclass
class Processes:
    """Starts the scenario's processes with its settings; stops whatever is left at the end."""

    env: dict[str, str]
    log_dir: Path
    started: list[Service] = field(default_factory=list)

    def _spawn(self, name: str, kind: str, port: int, extra: dict[str, str]) -> Service:
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("ab")
        env = {**os.environ, **self.env, **extra}
        module = "app" if kind == "gateway" else "workers"
        proc = subprocess.Popen(
            [sys.executable, "-m", module], env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        service = Service(name, kind, port, log_path, proc, log)
        self.started.append(service)
        return service

    def gateway(self, name: str = "gateway", **extra: str) -> Service:
        """A `python -m app` on a free port."""
        port = free_port()
        return self._spawn(name, "gateway", port, {"PORT": str(port), **extra})

    def worker(self, name: str, **extra: str) -> Service:
        """A `python -m workers` with its metrics on a free port; its database sessions carry its name."""
        port = free_port()
        url = self.env["DATABASE_URL"]
        # application_name lets a scenario find this worker's sessions in pg_stat_activity
        dsn = f"{url}{'&' if '?' in url else '?'}application_name={name}"
        return self._spawn(
            name, "worker", port, {"JIESU_WORKER_METRICS_PORT": str(port), "DATABASE_URL": dsn, **extra}
        )

    async def ready(self, *services: Service, timeout_s: float = 60) -> None:
        """Wait until each gateway answers /readyz 200 and each worker's loop has polled once."""
        deadline = time.monotonic() + timeout_s
        pending = list(services)
        async with httpx.AsyncClient(timeout=2) as http:
            while pending:
                service = pending[0]
                if not service.alive:
                    raise AssertionError(
                        f"{service.name} exited ({service.returncode})\n{service.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise AssertionError(f"{service.name} not ready in {timeout_s}s\n{service.log_tail()}")
                try:
                    if service.kind == "gateway":
                        ok = (await http.get(f"{service.url}/readyz")).status_code == 200
                    else:
                        ok = (await service.metrics()).get(
                            "jiesu_worker_last_progress_timestamp_seconds", 0
                        ) > 0
                except httpx.HTTPError:
                    ok = False
                if ok:
                    pending.pop(0)
                else:
                    await asyncio.sleep(0.2)

    def stop_all(self, timeout_s: float = 20) -> None:
        """SIGTERM every process still running, SIGKILL those that do not exit in time."""
        for service in self.started:
            service.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for service in self.started:
            try:
                service.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                service.proc.kill()
                service.proc.wait(timeout=10)
            service.close()

    def logs(self) -> str:
        """The tails of every process's log."""
        return "\n".join(service.log_tail() for service in self.started)


@contextmanager
def processes(env: dict[str, str], log_dir: Path) -> Iterator[Processes]:
    """A Processes whose survivors are stopped on exit."""
    procs = Processes(env, log_dir)
    try:
        yield procs
    finally:
        procs.stop_all()
