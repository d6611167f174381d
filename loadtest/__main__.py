"""`python -m loadtest`: run the surge-day simulator and print the headline figures.

Exit status: 0 when every check passed, 1 when one failed (e.g. a missing or duplicated ticket), 2 when the
run could not start (bad arguments, target not ready, target not on this machine without --allow-remote).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from ingest import event_loop
from loadtest import brief_check
from loadtest.client import is_loopback
from loadtest.config import build_parser, config_from_args, default_target
from loadtest.report import headline
from loadtest.runner import PreflightError, run

_RUN_ID = re.compile(r"^[\w.-]{1,64}$")


def _fmt(value: Any, float_spec: str = ",.1f") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return format(value, float_spec)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def summary(report: dict[str, Any]) -> str:
    """The headline figures of a report, a few lines of text."""
    lat, e2e, rec, dd = (report[k] for k in ("latency_ms", "e2e_latency_ms", "reconciliation", "dedupe"))
    hl = report.get("headline") or headline(report)
    lines = [
        f"sent {_fmt(report['sent'])}  202 responses {_fmt(hl['responses_202'])}"
        f" ({_fmt(hl['retries_answered_202'])} retries)  tickets {_fmt(hl['tickets'])}"
        f"  4xx {_fmt(report['rejected_4xx'])} (expected {_fmt(hl['expected_4xx'])} of"
        f" {_fmt(hl['invalid_planned'])} invalid; unexpected {_fmt(hl['unexpected_4xx'])})"
        f"  5xx {_fmt(report['errors_5xx'])}  timeouts {_fmt(report['timeouts'])}"
        f"  not sent {_fmt(report['not_sent'])}  in {_fmt(report['duration_s'])} s"
        f"  ({_fmt(report['throughput_rps'])} responses/s)",
        "latency ms (from intended send): "
        + "  ".join(f"{k} {_fmt(lat[k])}" for k in ("p50", "p90", "p99", "p999", "max")),
        f"e2e ms ({e2e['source']}, {_fmt(e2e['count'])}): p50 {_fmt(e2e['p50'])}  p99 {_fmt(e2e['p99'])}",
        f"reconciliation: tickets {_fmt(rec['accepted'])}  stored {_fmt(rec['stored'])}  "
        f"missing {_fmt(rec['missing'])}  duplicate_rows {_fmt(rec['duplicate_rows'])}  "
        f"drain {_fmt(hl['drain_s'], ',.3f')} s" + (f"  ({rec['skipped']})" if rec.get("skipped") else ""),
        f"repeats: client retries with the original's ticket {_fmt(dd['client_retries']['same_ticket'])} of "
        f"{_fmt(dd['client_retries']['sent'])}; resubmissions linked {_fmt(hl['resubmissions_linked'])} of "
        f"{_fmt(hl['resubmissions_sent'])} ({_share(hl['resubmissions_linked_share'])}, target "
        f"≥ {_share(hl['resubmissions_target_share'])}), "
        f"{_fmt(hl['resubmissions_linked_elsewhere'])} elsewhere",
        f"burst: {_fmt(hl['burst_largest_incident'])} of {_fmt(hl['burst_tickets'])} tickets in its largest "
        f"incident ({_share(hl['burst_largest_share'])}, target ≥ {_share(hl['burst_target_share'])})",
    ]
    lines += _server_lines(report.get("server"))
    lines += _urgent_lines(report.get("urgent"))
    lines += brief_check.summary_lines(report.get("brief"))
    lines += [f"note: {n}" for n in [*report.get("notes", []), *dd.get("notes", [])]]
    lines += [f"warning: {w}" for w in report.get("warnings", [])]
    failed = [name for name, ok in report["checks"].items() if ok is False]
    lines.append("checks: " + ("all passed" if not failed else "FAILED " + ", ".join(failed)))
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _server_lines(server: dict[str, Any] | None) -> list[str]:
    """The workers' side over the run, when it was watched."""
    if not server:
        return []
    summary = server["summary"]
    lag = "  ".join(f"{lane} {_fmt(v)}" for lane, v in summary["lag_max"].items()) or "not read"
    cpu = "  ".join(f"{name} {_fmt(v)}" for name, v in summary["cpu_mean_pct"].items())
    return [f"server: lag max {lag};  CPU mean, % of a core: {cpu}"]


def _urgent_lines(lane: dict[str, Any] | None) -> list[str]:
    """The urgent lane's figures, when the run had labelled messages (shares and seconds to 3 decimals)."""
    if not lane or not (lane["count"] or lane["hard_negatives"]):
        return []

    def f(key: str) -> str:
        return f"{key} {_fmt(lane[key], '.3f')}"

    return [
        f"urgent: {_fmt(lane['count'])} labelled urgent, {_fmt(lane['hard_negatives'])} hard negatives  "
        + "  ".join(
            f(k) for k in ("recall", "critical_recall", "false_alarm_rate", "flagged_share_of_regular")
        ),
        "urgent lane s (to complaints.urgent): "
        + "  ".join(f(k) for k in ("e2e_p50_s", "e2e_p99_s", "e2e_max_s", "service_p99_s"))
        + f"  missing_on_urgent {_fmt(lane['missing_on_urgent'])}",
    ]


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.target = args.target or default_target()
    if not is_loopback(args.target) and not args.allow_remote:
        parser.error(f"--target {args.target} is not this machine; pass --allow-remote for a staging host")
    if args.run_id and not _RUN_ID.fullmatch(args.run_id):
        parser.error("--run-id may hold only letters, digits, '_', '.', '-' (at most 64)")
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        report = event_loop.run(run(cfg), args.loop)
    except (PreflightError, ValueError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("loadtest: interrupted", file=sys.stderr)
        sys.exit(130)
    print(summary(report))
    print(f"report: {cfg.report}" + (f" and {cfg.report.with_suffix('.html')}" if cfg.html else ""))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
