"""The bench's targets, its table and its JSON file."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

# figure → (comparison, target) from issue 8.
TARGETS: dict[str, tuple[str, float]] = {
    "gateway_ratio": (">=", 0.6),
    "gateway_p99_ms": ("<=", 50.0),
    "batch_items_per_s": (">=", 20_000.0),
    "pipeline_rate": (">=", 1_500.0),
    "pipeline_ratio": (">=", 0.7),
    "gateway_rss_mb": ("<=", 300.0),
    "worker_rss_mb": ("<=", 1_000.0),
    # issue 17: keeping the rollups (the reports worker beside the workers) costs at most 10 % of the rate.
    "rollup_cost": ("<=", 0.10),
}
_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}
ROWS = (
    "bare_rps",
    "gateway_rps",
    "gateway_ratio",
    "bare_cpu_us",
    "gateway_cpu_us",
    "gateway_p99_ms",
    "batch_items_per_s",
    "batch_cpu_us_per_item",
    "nlp_rate",
    "sentinel_share",
    "pipeline_workers",
    "pipeline_rate",
    "pipeline_ratio",
    "pipeline_ratio_cpu",
    "pipeline_rate_rollups",
    "rollup_cost",
    "rollups_cpu_share",
    "gateway_rss_mb",
    "worker_rss_mb",
)


def verdicts(figures: dict[str, Any]) -> dict[str, bool | None]:
    """For each target: met, missed, or None when the figure was not measured."""
    out: dict[str, bool | None] = {}
    for name, (op, target) in TARGETS.items():
        value = figures.get(name)
        out[name] = None if value is None else _OPS[op](float(value), target)
    return out


def rollup_cost(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """`pipeline_rate_rollups`, `rollup_cost` (1 − rate with the reports worker / rate without) and
    `rollups_cpu_share` (its CPU over the workers') at the headline worker count (2, else the most), when
    both were run there; an empty dict otherwise."""
    counts = {r["workers"] for r in runs if r["rollups"]} & {r["workers"] for r in runs if not r["rollups"]}
    if not counts:
        return {}
    workers = 2 if 2 in counts else max(counts)
    off = next(r for r in runs if r["workers"] == workers and not r["rollups"])
    on = next(r for r in runs if r["workers"] == workers and r["rollups"])
    cost = 1 - on["sustained_rate"] / off["sustained_rate"] if off["sustained_rate"] else None
    return {
        "pipeline_rate_rollups": on["sustained_rate"],
        "rollup_cost": None if cost is None else round(cost, 3),
        "rollups_cpu_share": on["rollups_cpu_share"],
        "rollups_lag_s": on["rollups_lag_s"],
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(figures: dict[str, Any]) -> str:
    """The headline figures with their targets, as a Markdown table."""
    met = verdicts(figures)
    lines = ["| figure | value | target | |", "|---|---:|---|---|"]
    for name in ROWS:
        op, target = TARGETS.get(name, ("", None))
        verdict = {True: "met", False: "MISSED", None: ""}[met.get(name)]
        lines.append(
            f"| {name} | {_fmt(figures.get(name))} | {op} {_fmt(target) if target else ''} | {verdict} |"
        )
    return "\n".join(lines)


def scaling_table(runs: list[dict[str, Any]], nlp_rate: float | None = None) -> str:
    """Pipeline throughput against worker processes, as a Markdown table."""
    lines = [
        "| workers | rollups | intake partitions | sustained /s | wall /s | ratio to nlp × workers"
        " | batch p99 s | worker RSS MiB | workers' share of busy CPU | records per worker CPU-s"
        " | bucket lock: waiting / holding |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        ratio = r["sustained_rate"] / (nlp_rate * r["workers"]) if nlp_rate else None
        lines.append(
            f"| {r['workers']} | {'on' if r.get('rollups') else 'off'} | {r.get('partitions', 12)}"
            f" | {_fmt(r['sustained_rate'])}"
            f" | {_fmt(r['wall_rate'])} | {_fmt(ratio)} | {_fmt(r['batch_p99_s'])}"
            f" | {_fmt(r['worker_rss_mb'])} | {_fmt(r['worker_cpu_share'])}"
            f" | {_fmt(r.get('sustained_cpu_rate'))}"
            f" | {_fmt(r.get('lock_wait_share'))} / {_fmt(r.get('lock_held_share'))} |"
        )
    return "\n".join(lines)


def write(path: Path, figures: dict[str, Any]) -> None:
    """Write the figures (with the verdicts) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**figures, "targets_met": verdicts(figures)}, indent=2, default=str) + "\n")
