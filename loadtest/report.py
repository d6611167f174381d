"""The JSON report: headline figures, checks, and the series the HTML report plots.

`REQUIRED` is the report's contract (the fields downstream tooling may rely on); `problems()` checks a report
against it, and the run refuses to write a report that breaks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson

from loadtest.plan import CHANNELS, Plan
from loadtest.results import OUTCOMES, Recorder
from loadtest.scheduler import LoopState
from loadtest.stats import Latency
from loadtest.urgent import section as urgent_section

SCHEMA = "jiesu.loadtest.report/1"
LATENCY_KEYS = ("p50", "p90", "p99", "p999", "max")
REQUIRED: dict[str, tuple[str, ...]] = {
    "": (
        "schema",
        "sent",
        "accepted",
        "rejected_4xx",
        "errors_5xx",
        "timeouts",
        "duration_s",
        "throughput_rps",
        "latency_ms",
        "e2e_latency_ms",
        "reconciliation",
        "dedupe",
        "urgent",
        "checks",
        "ok",
    ),
    "latency_ms": LATENCY_KEYS,
    "e2e_latency_ms": ("p50", "p99"),
    "reconciliation": ("accepted", "stored", "missing", "duplicate_rows"),
    "dedupe": ("retries_sent", "retries_linked", "burst_sent", "burst_largest_incident"),
    "urgent": (
        "count",
        "recall",
        "critical_recall",
        "false_alarm_rate",
        "flagged_share_of_regular",
        "e2e_p50_s",
        "e2e_p99_s",
        "e2e_max_s",
        "service_p99_s",
        "missing_on_urgent",
    ),
}
# A dispatcher later than this (p99) means the generator, not the server, was the bottleneck.
GENERATOR_LAG_WARN_MS = 50.0


def problems(report: dict[str, Any]) -> list[str]:
    """Ways `report` breaks the contract (empty when it keeps it)."""
    out = []
    for section, keys in REQUIRED.items():
        where = report if not section else report.get(section)
        if not isinstance(where, dict):
            out.append(f"missing section {section!r}")
            continue
        out.extend(f"missing {section + '.' if section else ''}{k}" for k in keys if k not in where)
    for name in ("sent", "accepted", "rejected_4xx", "errors_5xx", "timeouts"):
        if name in report and not (isinstance(report[name], int) and report[name] >= 0):
            out.append(f"{name} must be a non-negative integer")
    return out


def _series(rec: Recorder, plan: Plan, cut: int, n: int) -> dict[str, Any]:
    """Everything over time, one value per bucket of `rec.bucket_s` seconds."""
    edges = np.arange(n + 1, dtype=np.float64) * rec.bucket_s
    offered = np.histogram(plan.at[:cut], bins=edges)[0] if cut else np.zeros(n, dtype=np.int64)
    per_s = 1.0 / rec.bucket_s

    def rate(values: list[int]) -> list[float]:
        return [round(v * per_s, 3) for v in values]

    out: dict[str, Any] = {
        "bucket_s": rec.bucket_s,
        "t": [round(float(x), 3) for x in edges[:-1]],
        "offered_rps": rate([int(v) for v in offered]),
        "sent_rps": rate(rec.sent_series.series(n)),
        "not_sent": rec.not_sent_series.series(n),
        "backlog_max": [rec.backlog_series.get(i, 0) for i in range(n)],
        "in_flight_max": [rec.in_flight_series.get(i, 0) for i in range(n)],
        "latency_ms": {
            name: values
            for name, values in zip(
                ("p50", "p90", "p99", "max"),
                rec.bucket_latency.many(n, [50.0, 90.0, 99.0, None]).values(),
                strict=True,
            )
        },
        "per_channel": {
            ch: {
                "accepted_rps": rate(rec.accepted_by_channel[ch].series(n)),
                "errors_rps": rate(rec.errors_by_channel[ch].series(n)),
                "latency_p99_ms": rec.bucket_latency_by_channel[ch].series(n, 99.0),
            }
            for ch in CHANNELS
        },
    }
    for name in OUTCOMES:
        out[f"{name}_rps"] = rate(rec.outcome_series[name].series(n))
    out["invalid_refused_rps"] = rate(rec.invalid_refused_series.series(n))
    return out


def _checks(report: dict[str, Any]) -> tuple[dict[str, bool | None], list[str]]:
    rec, dd, kinds = report["reconciliation"], report["dedupe"], report["outcomes_by_kind"]
    failed = report["errors_5xx"] + report["timeouts"] + report["transport_errors"]
    budget = float(report["run"].get("max_error_share", 0.01))
    checks: dict[str, bool | None] = {
        "accepted_any": report["accepted"] > 0 or report["sent"] == 0,
        "errors_within_budget": failed <= budget * report["sent"],
        "missing_zero": None if rec.get("stored") is None else rec["missing"] == 0,
        "duplicate_rows_zero": None if rec.get("stored") is None else rec["duplicate_rows"] == 0,
        "retries_got_original_ticket": dd["client_retries"]["different_ticket"] == 0,
        "invalid_never_accepted": kinds.get("invalid", {}).get("accepted", 0) == 0,
        # 429 is throttling, not a judgement on the submission: reported as a warning instead.
        "valid_never_rejected": all(
            counts.get("rejected_4xx", 0) - counts.get("throttled_429", 0) == 0
            for kind, counts in kinds.items()
            if kind != "invalid"
        ),
    }
    warnings = []
    lag = report["dispatch_lag_ms"]["p99"]
    if lag is not None and lag > GENERATOR_LAG_WARN_MS:
        warnings.append(
            f"the load generator released requests late (dispatch lag p99 {lag:.0f} ms): it was short of "
            "CPU, so the offered rate was not quite met"
        )
    throttled = sum(counts.get("throttled_429", 0) for counts in kinds.values())
    if throttled:
        warnings.append(f"{throttled:,} requests were throttled (429): the gateway's per-adapter rate limit")
    if failed:
        warnings.append(
            f"{failed:,} requests ended in 5xx, timeout or connection error "
            f"({failed / max(report['sent'], 1):.2%} of sent; budget {budget:.2%})"
        )
    if report["not_sent"]:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in report["not_sent_reasons"].items())
        warnings.append(f"{report['not_sent']:,} planned requests were not sent ({reasons})")
    if rec.get("stored") is not None and not rec.get("drained"):
        warnings.append("the pipeline had not drained when the wait ended: missing may still be arriving")
    lane = report["urgent"]
    if lane["missing_on_urgent"]:
        warnings.append(
            f"{lane['missing_on_urgent']:,} of {lane['count']:,} labelled urgent tickets never appeared on "
            "complaints.urgent"
        )
    return checks, warnings


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """What a reader asks first, each figure under one name: 202 responses (retries answered with their
    original's ticket included) apart from tickets (distinct ids), the 4xx the plan asked for apart from
    those it did not, the repeats and the burst against their targets, and how long the drain took."""
    kinds, rec, dd = report["outcomes_by_kind"], report["reconciliation"], report["dedupe"]
    invalid = kinds.get("invalid", {})
    throttled = sum(counts.get("throttled_429", 0) for counts in kinds.values())
    expected_4xx = invalid.get("rejected_4xx", 0) - invalid.get("throttled_429", 0)
    resub, burst = dd["resubmissions"], dd["burst"]
    server = report.get("server") or {}
    return {
        "responses_202": report["accepted"],
        "tickets": rec["accepted"],
        "retries_answered_202": kinds.get("retry", {}).get("accepted", 0),
        "invalid_planned": report["ground_truth"]["by_kind"].get("invalid", 0),
        "expected_4xx": expected_4xx,
        "unexpected_4xx": report["rejected_4xx"] - expected_4xx - throttled,
        "throttled_429": throttled,
        "errors": report["errors_5xx"] + report["timeouts"] + report["transport_errors"],
        "resubmissions_sent": resub["sent"],
        "resubmissions_linked": resub["linked"],
        "resubmissions_unlinked": resub["unlinked"],
        "resubmissions_linked_elsewhere": resub["linked_elsewhere"],
        "resubmissions_linked_share": resub["linked_share"],
        "resubmissions_target_share": resub["target_share"],
        "burst_tickets": burst["stored"] if burst["stored"] is not None else burst["accepted"],
        "burst_largest_incident": burst["largest_incident"],
        "burst_largest_share": burst["largest_share"],
        "burst_target_share": burst["target_share"],
        "drain_s": rec.get("drain_s"),
        "drained": rec.get("drained"),
        "lag_max": (server.get("summary") or {}).get("lag_max"),
    }


def _notes(report: dict[str, Any]) -> list[str]:
    """What a reader would otherwise stumble on: gaps that are the plan's, 4xx that were asked for."""
    gt, hl, run = report["ground_truth"], report["headline"], report["run"]
    notes = []
    if gt.get("minutes_without_arrivals"):
        stretches = gt["empty_stretches"]
        shown = ", ".join(stretches[:4]) + (" …" if len(stretches) > 4 else "")
        at = f"scale {run['scale']:g}" if run.get("scale") else "this scale"
        notes.append(
            f"At {at} the day's curve gives {gt['minutes_without_arrivals']:,} minutes "
            f"of the profile no message ({shown}): the planned rate there rounds to zero, so those gaps in "
            "the charts are the plan's, not an outage (a larger --scale fills them)."
        )
    if hl["resubmissions_linked_elsewhere"]:
        notes.append(
            f"{hl['resubmissions_linked_elsewhere']:,} resubmissions were linked to a ticket other than "
            "their original. A database that holds an earlier run with the same --seed has the same citizens "
            "writing the same words, so the workers may link to that run's tickets: use a fresh database (or "
            "another --seed) before reading this as the workers' error."
        )
    if hl["invalid_planned"]:
        notes.append(
            f"{hl['invalid_planned']:,} submissions were invalid on purpose (--invalid-share "
            f"{run.get('invalid_share', 0):g}) and {hl['expected_4xx']:,} of them got the 4xx they should: "
            "expected, not errors. Errors are 5xx, timeouts and connection errors."
        )
    return notes


def build(
    *,
    plan: Plan,
    rec: Recorder,
    state: LoopState,
    run: dict[str, Any],
    e2e: dict[str, Any],
    reconciliation: dict[str, Any],
    dedupe: dict[str, Any],
    cut: int,
    urgent: dict[str, Any] | None = None,
    server: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report (`urgent`: the urgent lane's section; without it, an empty one that says so;
    `server`: the workers' lag and the processes' CPU over the run, when they were watched)."""
    responses = sum(rec.outcomes.values())
    duration = max(rec.last_done, 1e-9)
    # Buckets up to the end of the run; a last bucket less than half full is left out of the plots
    # (its requests are in every total), so a run's tail does not look like a collapse.
    end = max(rec.last_done, float(plan.at[cut - 1]) if cut else 0.0)
    n = max(1, round(end / rec.bucket_s))
    planned_span = float(plan.at[cut - 1]) if cut else 0.0
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "run": run,
        "ground_truth": plan.ground_truth(),
        "sent": rec.sent,
        "accepted": rec.outcomes["accepted"],
        "rejected_4xx": rec.outcomes["rejected_4xx"],
        "errors_5xx": rec.outcomes["errors_5xx"],
        "timeouts": rec.outcomes["timeouts"],
        "transport_errors": rec.outcomes["transport_errors"],
        "not_sent": rec.not_sent,
        "not_sent_reasons": dict(rec.not_sent_reasons),
        "status_codes": dict(sorted(rec.status_codes.items())),
        "outcomes_by_kind": {k: dict(v) for k, v in rec.outcomes_by_kind.items() if v},
        "duration_s": round(duration, 3),
        "throughput_rps": round(responses / duration, 3),
        "accepted_rps": round(rec.outcomes["accepted"] / duration, 3),
        "offered_rps": round(cut / planned_span, 3) if planned_span > 0 else None,
        "latency_ms": rec.latency.summary_ms(),
        "service_time_ms": rec.service.summary_ms(),
        "queue_wait_ms": rec.queue_wait.summary_ms(),
        "dispatch_lag_ms": rec.dispatch_lag.summary_ms(),
        "latency_by_channel_ms": {ch: lat.summary_ms() for ch, lat in rec.by_channel.items()},
        "latency_spectrum_ms": rec.latency.spectrum_ms(),
        "service_spectrum_ms": rec.service.spectrum_ms(),
        "scheduler": {
            "released": state.released,
            "backlog_max": state.backlog_max,
            "in_flight_max": state.in_flight_max,
            "stop_reason": state.stop_reason,
        },
        "e2e_latency_ms": e2e,
        "reconciliation": reconciliation,
        "dedupe": dedupe,
        "urgent": urgent or urgent_section([], None, watched_urgent=False, notes=["not measured"]),
        "errors_sample": dict(rec.error_samples.most_common()),
        "timeseries": _series(rec, plan, cut, n),
        "server": server,
    }
    checks, warnings = _checks(report)
    report["checks"] = checks
    report["warnings"] = warnings
    report["headline"] = headline(report)
    report["notes"] = _notes(report)
    report["ok"] = all(v is not False for v in checks.values())
    return report


def e2e_section(lat: Latency, source: str, matched: int, of: int, note: str | None = None) -> dict[str, Any]:
    """The `e2e_latency_ms` section."""
    summary = lat.summary_ms()
    return {
        **{k: summary[k] for k in ("p50", "p90", "p99", "max", "mean")},
        "count": lat.count,
        "source": source,
        "matched": matched,
        "of": of,
        "note": note,
    }


def write_json(report: dict[str, Any], path: Path) -> None:
    """Write `report` as indented JSON, refusing one that breaks the contract."""
    broken = problems(report)
    if broken:
        raise ValueError("report breaks its schema: " + "; ".join(broken))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n")
