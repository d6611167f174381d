"""`python -m loadtest.surge`: a whole surge day through the real pipeline on this machine, end to end.

It owns everything it runs on the local Kafka and Postgres (`make services`): a database `jiesu_bench_surge…`
(created, migrated, dropped), topics under `benchsurge…` (created, deleted), a gateway (`python -m app`) and
W workers (`python -m workers`) as child processes, and the simulator (`python -m loadtest`) as a separate
process, the way a real client is. It then answers issue 8's question for the surge day: with the day
(1.2 million messages at `--scale 1`) replayed in `--replay-minutes`, was the whole day offered (every
planned request sent, under 1 % failed), every accepted complaint stored exactly once, and the backlog gone
within `--lag-budget` seconds of the last request? `met` says all three; the exit status is 0 only then.

The same rates at a fraction of the length: `--scale 0.1 --replay-minutes 1.5` sends what the full day sends
per second, for 90 s instead of 15 min (the 2 min budget is then generous: the backlog is 10× smaller).
Figures go to `.data/surge.json` (and the simulator's own report to `.data/surge/`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ingest.topics import ensure_topics
from loadtest.bench import cpu, pipeline
from loadtest.bench.procs import REPO_ROOT, Child, cpu_seconds, free_port, rss_mb, running, wait_http
from loadtest.config import service_address
from loadtest.report import REQUIRED

OUT = REPO_ROOT / ".data" / "surge.json"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest.surge", description=__doc__.splitlines()[0])
    p.add_argument(
        "--profile",
        choices=("surge-day", "normal-day"),
        default="surge-day",
        help="the day to replay: the surge day with its burst (default), or a normal day (how many alerts a "
        "day without a burst raises)",
    )
    p.add_argument("--scale", type=float, default=1.0, help="share of the profile's day (1.0)")
    p.add_argument("--replay-minutes", type=float, default=15.0, help="the day replayed in (15) minutes")
    p.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    p.add_argument(
        "--urgent-workers",
        type=int,
        default=1,
        help="extra worker processes for the urgent lane only (1); 0: every worker reads both lanes",
    )
    p.add_argument("--lag-budget", type=float, default=120.0, help="seconds allowed to drain after the end")
    p.add_argument("--drain-timeout", type=float, default=900.0, help="longest wait for the drain, s (900)")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument(
        "--urgent-share",
        type=float,
        default=0.005,
        help="labelled urgent messages (and as many hard negatives) from corpus/urgency (0.005)",
    )
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument(
        "--normal-niceness",
        type=int,
        default=5,
        help="niceness of the normal-lane workers when urgent-lane workers run beside them (5)",
    )
    p.add_argument(
        "--no-reports",
        action="store_true",
        help="no reports worker (python -m workers.rollups), and so no check of the hourly brief",
    )
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="gateway/workers env")
    return p


class Sampler(threading.Thread):
    """Largest RSS of each child, sampled every second while the run lasts."""

    def __init__(self, children: list[Child]) -> None:
        super().__init__(daemon=True)
        self.children = children
        self.rss_mb: dict[str, float] = {c.name: 0.0 for c in children}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(1.0):
            for child in self.children:
                self.rss_mb[child.name] = max(self.rss_mb[child.name], rss_mb(child.pid))

    def stop(self) -> None:
        self._done.set()
        self.join(5)


def _report_path(args: argparse.Namespace) -> Path:
    """Where the simulator writes its JSON report (and its HTML report beside it)."""
    out: Path = args.out
    return out.parent / "surge" / "report.json"


def _simulate(
    args: argparse.Namespace, target: str, bootstrap: str, url: str, prefix: str, *, metrics: list[str]
) -> tuple[dict[str, Any], float]:
    """Run the simulator as its own process; its JSON report and the CPU seconds it used."""
    report_path = _report_path(args)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "loadtest",
        "--profile", args.profile,
        "--scale", str(args.scale),
        "--replay-minutes", str(args.replay_minutes),
        "--seed", str(args.seed),
        "--urgent-share", str(args.urgent_share),
        "--target", target,
        "--kafka", bootstrap,
        "--topic-prefix", prefix,
        "--database-url", url,
        "--consumer-group", f"{prefix}intake",
        "--worker-metrics", ",".join(metrics),
        "--drain-timeout", str(args.drain_timeout),
        "--report", str(report_path),
        "--no-progress",
        *([] if args.no_reports else ["--brief"]),
    ]  # fmt: skip
    budget_s = args.replay_minutes * 60 + args.drain_timeout + 600
    # The gateway and workers are still running, so the only child reaped meanwhile is the simulator.
    reaped_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=REPO_ROOT, check=False, timeout=budget_s)
    reaped_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (reaped_after.ru_utime - reaped_before.ru_utime) + (
        reaped_after.ru_stime - reaped_before.ru_stime
    )
    result: dict[str, Any] = json.loads(report_path.read_text())
    return result, cpu_s


def summarise(report: dict[str, Any], args: argparse.Namespace, extra: dict[str, Any]) -> dict[str, Any]:
    """The figures issue 8 asks about, from the simulator's report and the processes' samples."""
    rec = report.get("reconciliation") or {}
    drain_s = rec.get("drain_s")
    stored_once = rec.get("missing") == 0 and rec.get("duplicate_rows") == 0 and rec.get("drained") is True
    # The day counts only if it was offered: every planned request sent, and (almost) all answered.
    failed = report["errors_5xx"] + report["timeouts"] + report.get("transport_errors", 0)
    day_offered = report["not_sent"] == 0 and failed <= 0.01 * max(1, report["sent"])
    return {
        "scale": args.scale,
        "replay_minutes": args.replay_minutes,
        "workers": args.workers,
        "urgent_workers": args.urgent_workers,
        "normal_niceness": args.normal_niceness if args.urgent_workers else 0,
        "planned_messages": report["ground_truth"]["messages"],
        "planned_requests": report["ground_truth"]["requests"],
        "expected_tickets": report["ground_truth"]["expected_tickets"],
        "sent": report["sent"],
        "accepted": rec.get("accepted", report["accepted"]),
        "rejected_4xx": report["rejected_4xx"],
        "errors_5xx": report["errors_5xx"],
        "timeouts": report["timeouts"],
        "not_sent": report["not_sent"],
        "offered_rps": report["offered_rps"],
        "accepted_rps": report["accepted_rps"],
        "latency_ms": {k: report["latency_ms"].get(k) for k in ("p50", "p90", "p99", "p999", "max")},
        "e2e_latency_ms": report.get("e2e_latency_ms"),
        # The urgent lane: recall against the labels, and intended send → on complaints.urgent.
        "urgent": report.get("urgent"),
        "stored": rec.get("stored"),
        "missing": rec.get("missing"),
        "duplicate_rows": rec.get("duplicate_rows"),
        "drain_s": drain_s,
        "lag_budget_s": args.lag_budget,
        # The reader's first questions, as the simulator's report names them (202s apart from tickets, the
        # repeats and the burst against their targets), and the workers' lag and CPU over the run.
        "headline": report.get("headline"),
        "server": (report.get("server") or {}).get("summary"),
        "html_report": str(_report_path(args).with_suffix(".html")),
        "stored_exactly_once": stored_once,
        "drained_within_budget": stored_once and drain_s is not None and drain_s <= args.lag_budget,
        "day_offered": day_offered,
        "met": day_offered and stored_once and drain_s is not None and drain_s <= args.lag_budget,
        # issue 17: the brief of the burst's hour and the run's alerts (the simulator's `brief`, in short).
        "brief": _brief_headline(report.get("brief")),
        **extra,
    }


def _brief_headline(brief: dict[str, Any] | None) -> dict[str, Any] | None:
    if brief is None:
        return None
    alert = brief.get("burst_alert") or {}
    return {
        "burst_top_rising": brief.get("burst_top_rising"),
        "burst_alert_kind": alert.get("kind"),
        "burst_alert_after_s": alert.get("after_burst_start_s"),
        "alerts": len(brief.get("alerts", [])),
        "notes": brief.get("notes", []),
    }


async def _prepare(admin_url: str, bootstrap: str, db: str, prefix: str) -> str:
    url = await pipeline.create_database(admin_url, db)
    await ensure_topics(bootstrap, prefix)
    return url


async def _cleanup(admin_url: str, bootstrap: str, db: str, prefix: str) -> None:
    await pipeline.delete_topics(bootstrap, prefix)
    await pipeline.drop_database(admin_url, db)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the stack's processes, replay the day, collect the figures, stop and clean up."""
    bootstrap = service_address("KAFKA_BOOTSTRAP_SERVERS")
    admin_url = service_address("DATABASE_URL")
    if not bootstrap or not admin_url:
        sys.exit("surge: Kafka and Postgres are needed (make services; .data/services.env)")
    run_id = uuid.uuid4().hex[:6]
    prefix, db = f"benchsurge{run_id}.", f"jiesu_bench_surge{run_id}"
    url = asyncio.run(_prepare(admin_url, bootstrap, db, prefix))
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": url,
        "JIESU_TOPIC_PREFIX": prefix,
        "JIESU_CONSUMER_GROUP": f"{prefix}intake",  # the simulator reads the same group's lag
        "JIESU_LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **dict(item.split("=", 1) for item in args.env),
    }
    logs = args.out.parent / "surge" / "logs"
    children = [Child("gateway", ["-m", "app"], env, logs)]
    metrics_ports = [free_port() for _ in range(args.workers + args.urgent_workers)]
    # With urgent workers, the others read only the normal lane, at a lower CPU priority: the machine is
    # saturated on purpose, and the urgent lane must not wait for a time slice behind the backlog.
    lanes = ["normal"] * args.workers + ["urgent"] * args.urgent_workers if args.urgent_workers else []
    workers = [
        Child(
            f"worker{i}" if not lanes or lanes[i] == "normal" else f"urgent{i - args.workers}",
            ["-m", "workers"],
            {
                **env,
                "JIESU_WORKER_METRICS_PORT": str(p),
                **({"JIESU_WORKER_LANES": lanes[i]} if lanes else {}),
            },
            logs,
        )
        for i, p in enumerate(metrics_ports)
    ]
    for worker, lane in zip(workers, lanes, strict=False):
        if lane == "normal" and args.normal_niceness:
            os.setpriority(os.PRIO_PROCESS, worker.pid, args.normal_niceness)
    children += workers
    if not args.no_reports:
        # The reports worker, as `make up` runs it: its rollups feed the brief the simulator checks.
        children.append(Child("reports", ["-m", "workers.rollups"], env, logs))
    try:
        with running(children):
            wait_http(children[0], f"http://127.0.0.1:{port}/readyz")
            sampler = Sampler(children)
            sampler.start()
            started = time.monotonic()
            own_before = {c.name: cpu_seconds(c.pid) for c in children}
            machine_before = cpu.snapshot()
            report, simulator_cpu_s = _simulate(
                args,
                f"http://127.0.0.1:{port}",
                bootstrap,
                url,
                prefix,
                metrics=[f"http://127.0.0.1:{p}/metrics" for p in metrics_ports],
            )
            machine_after = cpu.snapshot()
            own = {c.name: cpu_seconds(c.pid) - own_before[c.name] for c in children}
            sampler.stop()
            wall_s = time.monotonic() - started
            texts = asyncio.run(pipeline.scrape_metrics(metrics_ports))
            locks = [pipeline.lock_seconds(text) for text in texts]
            extra = {
                "wall_s": round(wall_s, 1),
                # Grouping a city is serialised across workers: how long they waited for, and held, its lock.
                "bucket_lock_s": {
                    kind: round(sum(lk.get(kind, 0.0) for lk in locks), 1) for kind in ("wait", "held")
                },
                "gateway_rss_mb": round(sampler.rss_mb["gateway"], 1),
                "worker_rss_mb": round(max(v for k, v in sampler.rss_mb.items() if k != "gateway"), 1),
                # From the first request to the end of the drain: each process's share of the machine.
                "cpu_s": cpu.shares(machine_before, machine_after, {**own, "simulator": simulator_cpu_s}),
            }
    finally:
        asyncio.run(_cleanup(admin_url, bootstrap, db, prefix))
    return summarise(report, args, extra)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    figures = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    for key, value in figures.items():
        # The urgent section's headline figures only; its tables and samples are in the file.
        shown = {k: value[k] for k in REQUIRED["urgent"]} if key == "urgent" and value else value
        print(f"{key:>22}  {shown}")
    sys.exit(0 if figures["met"] else 1)


if __name__ == "__main__":
    main()
