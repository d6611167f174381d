"""`python -m loadtest.bench` (`make bench`): every stage measured side by side in one run, on 127.0.0.1.

Stages, each bounded in time: the bare endpoint and the gateway under wrk (alternating), the gateway's p99 at
70 % of its saturated rate under the simulator's open-loop constant profile, the batch endpoint under wrk, the
workers' judgement in a tight loop on one core, and the pipeline from a pre-filled intake topic to stored rows
and published events with W worker processes. The run owns its database, topic prefix, consumer group and
processes, and removes them at the end. Figures go to .data/bench.json and are printed as a table.

Exit status: 0 when it ran (targets met or not: the table says), 2 when it could not (no Kafka or Postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from ingest.topics import ensure_topics
from loadtest.bench import gateway, pipeline, records, report
from loadtest.bench.procs import REPO_ROOT
from loadtest.config import service_address

DEFAULT_OUT = REPO_ROOT / ".data" / "bench.json"
# What the reports worker writes (migration 0008), emptied between pipeline runs like the tickets.
ROLLUP_TABLES = "rollup_hourly, rollup_incident_hourly, rollup_ledger, report_alerts, report_publications"


def _workers_list(text: str) -> list[int]:
    values = [int(x) for x in text.split(",") if x.strip()]
    if not values or min(values) < 1 or max(values) > 8:
        raise argparse.ArgumentTypeError("worker counts are 1..8, comma-separated, e.g. 1,2,3")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m loadtest.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=10, help="length of each load stage, s (10)")
    p.add_argument("--rounds", type=int, default=2, help="bare/gateway alternations (2)")
    p.add_argument("--records", type=int, default=30_000, help="records pre-filled per pipeline run")
    p.add_argument("--workers", type=_workers_list, default=[2], help="worker processes; 1,2,3 = scaling")
    p.add_argument("--pipeline-timeout", type=float, default=120.0, help="longest pipeline run, s (120)")
    p.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment of the worker processes, e.g. JIESU_BATCH_MAX_RECORDS=1000",
    )
    p.add_argument(
        "--rollups",
        choices=("both", "off", "on"),
        default="both",
        help="pipeline runs without the reports worker, with it, or both side by side (both): the cost of "
        "keeping the rollups is 1 − rate with / rate without",
    )
    p.add_argument("--skip", action="append", default=[], choices=("gateway", "nlp", "pipeline"))
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return p


def _nlp(seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "loadtest.bench.nlp", "--seconds", str(seconds)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=seconds + 180, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def _pipelines(
    args: argparse.Namespace, bootstrap: str, admin_url: str, run: str
) -> list[dict[str, Any]]:
    db = f"jiesu_bench_{run}"
    url = await pipeline.create_database(admin_url, db)
    runs = []
    try:
        modes = {"both": (False, True), "off": (False,), "on": (True,)}[args.rollups]
        for w in args.workers:
            for rollups in modes:
                async with pipeline.connect(url) as conn:
                    await conn.execute(f"TRUNCATE tickets, ticket_keys, incidents, {ROLLUP_TABLES}")
                tag = f"w{w}{'r' if rollups else ''}"
                result = await pipeline.run_pipeline(
                    bootstrap=bootstrap,
                    database_url=url,
                    prefix=f"bench{run}{tag}.",
                    records=records.intake_records(args.records, f"{run}{tag}"),
                    workers=w,
                    timeout_s=args.pipeline_timeout,
                    log_dir=args.out.parent / "bench" / "logs",
                    worker_env=dict(item.split("=", 1) for item in args.worker_env),
                    rollups=rollups,
                )
                runs.append(result.summary())
                print(f"pipeline, {w} worker(s), rollups {rollups}: {result.summary()}", file=sys.stderr)
    finally:
        await pipeline.drop_database(admin_url, db)
    return runs


def main(argv: list[str] | None = None) -> None:
    """Run the stages, print the table, write the JSON."""
    args = build_parser().parse_args(argv)
    bootstrap = service_address("KAFKA_BOOTSTRAP_SERVERS")
    admin_url = service_address("DATABASE_URL")
    if not bootstrap or not admin_url:
        sys.exit("bench: Kafka and Postgres are needed (make services; .data/services.env)")
    run = uuid.uuid4().hex[:6]
    started = time.time()
    figures: dict[str, Any] = {"run": run, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    work = args.out.parent / "bench"
    if "gateway" not in args.skip:
        prefix = f"bench{run}g."
        db = f"jiesu_bench_{run}g"
        url = asyncio.run(pipeline.create_database(admin_url, db))
        try:
            asyncio.run(ensure_topics(bootstrap, prefix))
            cfg = gateway.GatewayConfig(
                bootstrap, url, prefix, work, seconds=args.seconds, rounds=args.rounds
            )
            figures.update(gateway.run(cfg))
        finally:
            asyncio.run(pipeline.delete_topics(bootstrap, prefix))
            asyncio.run(pipeline.drop_database(admin_url, db))
        print(
            f"gateway: {json.dumps({k: v for k, v in figures.items() if k != 'wrk_runs'})}", file=sys.stderr
        )
    if "nlp" not in args.skip:
        figures["nlp"] = _nlp(args.seconds)
        figures["nlp_rate"] = figures["nlp"]["nlp_rate"]
        figures["sentinel_share"] = figures["nlp"].get("sentinel_share")
        print(f"nlp: {figures['nlp']}", file=sys.stderr)
    if "pipeline" not in args.skip:
        every = asyncio.run(_pipelines(args, bootstrap, admin_url, run))
        figures["pipeline_runs"] = every
        figures.update(report.rollup_cost(every))
        # The headline figures are the pipeline's own (without the reports worker) unless only "on" ran.
        runs = [r for r in every if not r["rollups"]] or every
        main_run = max(runs, key=lambda r: r["workers"]) if len(runs) > 1 else runs[0]
        main_run = next((r for r in runs if r["workers"] == 2), main_run)
        figures["pipeline_workers"] = main_run["workers"]
        figures["pipeline_rate"] = main_run["sustained_rate"]
        figures["worker_rss_mb"] = max(r["worker_rss_mb"] for r in runs)
        if figures.get("nlp_rate"):
            figures["pipeline_ratio"] = round(
                main_run["sustained_rate"] / (figures["nlp_rate"] * main_run["workers"]), 3
            )
        # The same comparison per CPU-second (no target): what a record costs a worker against what the
        # judgement loop costs, whatever else the machine was running during either stage.
        if figures.get("nlp", {}).get("nlp_rate_cpu") and main_run.get("sustained_cpu_rate"):
            figures["pipeline_ratio_cpu"] = round(
                main_run["sustained_cpu_rate"] / figures["nlp"]["nlp_rate_cpu"], 3
            )
    figures["duration_s"] = round(time.time() - started, 1)
    report.write(args.out, figures)
    print(report.table(figures))
    if figures.get("pipeline_runs"):
        print()
        print(report.scaling_table(figures["pipeline_runs"], figures.get("nlp_rate")))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
