"""The gateway stages: a bare endpoint and the gateway under wrk, the gateway's p99 at 70 % under the
simulator's open-loop constant profile, and the batch endpoint under wrk; RSS sampled meanwhile."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.bench import records, wrk
from loadtest.bench.procs import REPO_ROOT, Child, cpu_seconds, free_port, rss_mb, running, wait_http


@dataclass
class GatewayConfig:
    """Bounds and sizes of the gateway stages."""

    bootstrap: str
    database_url: str
    prefix: str
    work_dir: Path
    seconds: int = 10
    rounds: int = 2
    connections: int = 64
    batch_connections: int = 8
    batch_items: int = 500
    p99_shares: tuple[float, ...] = (0.7, 0.35)  # the first is the headline figure
    extra_env: dict[str, str] = field(default_factory=dict)


class RssSampler:
    """Samples a process's RSS every 0.5 s in a thread; keeps the largest."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        """Stop sampling; the peak RSS in MiB."""
        self._stop.set()
        self._thread.join()
        return round(max(self.peak, rss_mb(self.pid)), 1)


def _p99_at(url: str, rate: float, cfg: GatewayConfig, report: Path, gateway_pid: int) -> dict[str, Any]:
    """The simulator's open-loop constant profile at `rate` for cfg.seconds: latency from intended send,
    and the CPU the simulator and the gateway used meanwhile (they share the machine's cores)."""
    args = [
        sys.executable, "-m", "loadtest", "--profile", "constant", "--rate", f"{rate:.0f}",
        "--duration", str(cfg.seconds), "--target", url, "--no-db", "--kafka", cfg.bootstrap,
        "--topic-prefix", cfg.prefix, "--stall", "1", "--drain-timeout", "3", "--retry-share", "0",
        "--invalid-share", "0", "--no-html", "--no-progress", "--report", str(report),
        "--run-id", f"{cfg.prefix.rstrip('.')}p99",
    ]  # fmt: skip
    children_cpu = _children_cpu()
    gateway_cpu = cpu_seconds(gateway_pid)
    subprocess.run(args, cwd=REPO_ROOT, capture_output=True, timeout=cfg.seconds + 120, check=False)
    simulator_cpu = _children_cpu() - children_cpu
    gateway_cpu = cpu_seconds(gateway_pid) - gateway_cpu
    data = json.loads(report.read_text())
    return {
        "rate": round(rate),
        "sent": data["sent"],
        "accepted": data["accepted"],
        "errors_5xx": data["errors_5xx"],
        "timeouts": data["timeouts"],
        "p50_ms": data["latency_ms"]["p50"],
        "p99_ms": data["latency_ms"]["p99"],
        "dispatch_lag_p99_ms": data["dispatch_lag_ms"]["p99"],
        "simulator_cpu_s": round(simulator_cpu, 1),
        "gateway_cpu_s": round(gateway_cpu, 1),
    }


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wrk_with_cpu(
    url: str, script: Path, pid: int, *, seconds: int, connections: int
) -> tuple[wrk.WrkResult, float | None]:
    """A wrk run and the CPU the server process `pid` spent per answered request meanwhile, in µs."""
    before = cpu_seconds(pid)
    result = wrk.run(url, script, seconds=seconds, connections=connections)
    answered = result.requests - result.non_2xx
    spent = cpu_seconds(pid) - before
    return result, (round(spent / answered * 1e6, 1) if answered else None)


def run(cfg: GatewayConfig) -> dict[str, Any]:
    """Every gateway figure, bare and gateway alternating in rounds so that noise hits both alike."""
    scripts = cfg.work_dir / "wrk"
    single = wrk.write_script(scripts / "single.lua", "/v1/complaints", records.bodies(200))
    batch = wrk.write_script(
        scripts / "batch.lua", "/v1/complaints/batch", records.batch_bodies(4, cfg.batch_items)
    )
    bare_port, gw_port = free_port(), free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": cfg.bootstrap,
        "DATABASE_URL": cfg.database_url,
        "JIESU_TOPIC_PREFIX": cfg.prefix,
        "HOST": "127.0.0.1",
        "PORT": str(gw_port),
        "JIESU_LOG_LEVEL": "WARNING",
        **cfg.extra_env,
    }
    logs = cfg.work_dir / "logs"
    bare = Child("bare", ["-m", "loadtest.bench.bare", "--port", str(bare_port)], {}, logs)
    gateway = Child("gateway", ["-m", "app"], env, logs)
    out: dict[str, Any] = {}
    with running([bare, gateway]):
        bare_url, gw_url = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{gw_port}"
        wait_http(bare, f"{bare_url}/readyz")
        wait_http(gateway, f"{gw_url}/readyz")
        sampler = RssSampler(gateway.pid)
        # Warm-up: connections to Kafka, first-use costs, pydantic's lazy schema building.
        wrk.run(bare_url, single, seconds=2, connections=cfg.connections)
        wrk.run(gw_url, single, seconds=2, connections=cfg.connections)
        bare_runs, gw_runs = [], []
        bare_us, gw_us = [], []
        for _ in range(cfg.rounds):
            result, us = _wrk_with_cpu(
                bare_url, single, bare.pid, seconds=cfg.seconds, connections=cfg.connections
            )
            bare_runs.append(result)
            bare_us.append(us)
            result, us = _wrk_with_cpu(
                gw_url, single, gateway.pid, seconds=cfg.seconds, connections=cfg.connections
            )
            gw_runs.append(result)
            gw_us.append(us)
        out["bare_rps"] = round(statistics.median(r.ok_rps for r in bare_runs), 1)
        out["gateway_rps"] = round(statistics.median(r.ok_rps for r in gw_runs), 1)
        # Server CPU per answered request under wrk: what the ratio is made of, less the machine's noise.
        out["bare_cpu_us"] = _median(bare_us)
        out["gateway_cpu_us"] = _median(gw_us)
        out["gateway_ratio"] = round(out["gateway_rps"] / out["bare_rps"], 3) if out["bare_rps"] else 0.0
        out["gateway_errors"] = sum(r.non_2xx + r.socket_errors for r in gw_runs)
        out["gateway_saturated_p99_ms"] = max(r.p99_ms or 0.0 for r in gw_runs)
        bare.stop()  # the rest is the gateway's alone
        runs = [
            _p99_at(gw_url, share * out["gateway_rps"], cfg, cfg.work_dir / f"p99-{share}.json", gateway.pid)
            for share in cfg.p99_shares
        ]
        out["gateway_p99_ms"] = runs[0]["p99_ms"]
        out["gateway_p99_runs"] = runs
        time.sleep(1)
        b, per_request = _wrk_with_cpu(
            gw_url, batch, gateway.pid, seconds=cfg.seconds, connections=cfg.batch_connections
        )
        out["batch_items_per_s"] = round(b.ok_rps * cfg.batch_items, 1)
        out["batch_cpu_us_per_item"] = (
            round(per_request / cfg.batch_items, 1) if per_request is not None else None
        )
        out["batch_errors"] = b.non_2xx + b.socket_errors
        out["batch_p99_ms"] = b.p99_ms
        out["gateway_rss_mb"] = sampler.stop()
        out["wrk_runs"] = {
            "bare": [r.__dict__ for r in bare_runs],
            "gateway": [r.__dict__ for r in gw_runs],
            "batch": b.__dict__,
        }
    return out
