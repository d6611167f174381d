"""The HTML report: one self-contained file (inline SVG and CSS, no scripts) that opens offline."""

from __future__ import annotations

import math
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

from loadtest import brief_check
from loadtest.repeats import BURST_IN_LARGEST_TARGET
from loadtest.report import headline
from loadtest.svg import PALETTE, Mark, Series, line_chart

_CHANNEL_COLORS = {"wechat": "#07c160", "phone": "#1f77b4", "web": "#ff7f0e"}
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;
margin:24px auto;max-width:960px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.sub{color:#666;margin-bottom:14px}.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:8px;margin-bottom:8px}
.card{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:8px 10px}
.card b{display:block;font-size:20px}.card span{color:#666;font-size:12px}
.card i{display:block;color:#888;font-size:11px;font-style:normal}
.ok{color:#1a7f37}.bad{color:#cf222e}.na{color:#888}
table{border-collapse:collapse;background:#fff;margin:6px 0;width:100%}
td,th{border:1px solid #e2e2e2;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.chart{background:#fff;border:1px solid #e2e2e2;border-radius:6px;margin:6px 0}
.chart .title{font-weight:600;font-size:13px}.chart .tick{font-size:11px;fill:#555}
.chart .axis{font-size:11px;fill:#555}.chart .legend{font-size:11px}.chart .shade{font-size:11px;fill:#8a6d00}
.chart .grid{stroke:#eee}ul{margin:4px 0}code{background:#eee;padding:1px 4px;border-radius:3px}
"""


def _v(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.3g}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return escape(text + unit)


def _card(label: str, value: Any, unit: str = "", cls: str = "", note: str = "") -> str:
    under = f"<i>{escape(note)}</i>" if note else ""
    return (
        f'<div class="card"><b class="{cls}">{_v(value, unit)}</b><span>{escape(label)}</span>{under}</div>'
    )


def _ms(*values: float | None) -> str:
    """Latencies for a card, `a / b` under one unit: milliseconds up to 10 s, seconds beyond, so that the
    figure fits its card."""
    known = [v for v in values if v is not None]
    seconds = bool(known) and max(known) >= 10_000
    shown = ["n/a" if v is None else f"{v / 1000:,.1f}" if seconds else f"{v:,.1f}" for v in values]
    return " / ".join(shown) + ("" if not known else " s" if seconds else " ms")


def _target_class(share: float | None, target: float) -> str:
    return "na" if share is None else ("ok" if share >= target else "bad")


def _zero_class(value: Any) -> str:
    return "na" if value is None else ("ok" if value == 0 else "bad")


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:.1%}"


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_v(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _clock_ticks(
    r: dict[str, Any], x: list[float], end: float | None = None
) -> tuple[list[tuple[float, str]] | None, str]:
    """For a replayed day, x ticks at round profile times labelled HH:MM (and the axis label); `end`: where
    the axis ends, in seconds since the start (default: the last bucket's end)."""
    run = r["run"]
    compression = float(run.get("compression") or 1.0)
    if run.get("profile") == "constant" or not x:
        return None, "seconds since start"
    start = float(run.get("window_start_s") or 0.0)
    span_min = (end if end is not None else x[-1] + r["timeseries"]["bucket_s"]) * compression / 60
    step = next((m for m in (10, 15, 30, 60, 120, 180, 240) if span_min / m <= 12), 360)
    ticks = []
    minute = math.ceil(start / 60 / step) * step
    while (minute * 60 - start) / compression <= x[-1] + 1e-9:
        ticks.append(((minute * 60 - start) / compression, f"{minute // 60 % 24:02d}:{minute % 60:02d}"))
        minute += step
    return ticks, f"profile time of day (replayed ×{compression:g}: 1 h in {3600 / compression:g} s)"


def _charts(r: dict[str, Any]) -> list[str]:
    ts = r["timeseries"]
    x = ts["t"]
    window = r["ground_truth"].get("burst_window_s")
    shade = (window[0], window[1]) if window else None
    label = "incident burst" if shade else ""
    ticks, x_label = _clock_ticks(r, x)

    def timeline(title: str, series: list[Series], y_label: str, log_y: bool = False) -> str:
        # Every chart over the run's clock shares its x axis and the burst's shading.
        return line_chart(
            title,
            x,
            series,
            y_label=y_label,
            log_y=log_y,
            shade=shade,
            shade_label=label,
            x_ticks=ticks,
            x_label=x_label,
        )

    charts = [
        timeline(
            "Request rate: planned arrivals, sent, answered",
            [
                # Drawn widest first: where the three coincide, each still shows around the next.
                Series("planned (offered)", ts["offered_rps"], "#999", width=6, opacity=0.45),
                Series("sent", ts["sent_rps"], PALETTE[0], width=2.6, dash="9,4"),
                Series("202 responses", ts["accepted_rps"], PALETTE[2], width=1.2, marker=True),
            ],
            y_label="requests/s",
        ),
        timeline(
            "Latency from the intended send time (corrected for coordinated omission), per bucket",
            [
                Series("p50", ts["latency_ms"]["p50"], PALETTE[0]),
                Series("p90", ts["latency_ms"]["p90"], PALETTE[2]),
                Series("p99", ts["latency_ms"]["p99"], PALETTE[3]),
                Series("max", ts["latency_ms"]["max"], PALETTE[1], width=1.0),
            ],
            y_label="ms (log)",
            log_y=True,
        ),
        timeline(
            "Refusals and errors (the planned invalid submissions' 4xx are expected)",
            [
                Series(
                    "4xx, expected (invalid on purpose)", ts.get("invalid_refused_rps", []), "#bbb", width=4
                ),
                Series("4xx, all", ts["rejected_4xx_rps"], PALETTE[3], dash="6,3"),
                Series("5xx", ts["errors_5xx_rps"], PALETTE[1]),
                Series("timeouts", ts["timeouts_rps"], PALETTE[4]),
                Series("connection errors", ts["transport_errors_rps"], PALETTE[5]),
                Series("not sent", [v / ts["bucket_s"] for v in ts["not_sent"]], "#555", dashed=True),
            ],
            y_label="per s",
        ),
        timeline(
            "Accepted per channel",
            [Series(ch, v["accepted_rps"], _CHANNEL_COLORS[ch]) for ch, v in ts["per_channel"].items()],
            y_label="202/s",
        ),
        timeline(
            "p99 latency per channel (from intended send time)",
            [Series(ch, v["latency_p99_ms"], _CHANNEL_COLORS[ch]) for ch, v in ts["per_channel"].items()],
            y_label="ms (log)",
            log_y=True,
        ),
        timeline(
            "Client backlog and requests in flight (max per bucket)",
            [
                Series("backlog (waiting to be sent)", ts["backlog_max"], PALETTE[1]),
                Series("in flight", ts["in_flight_max"], PALETTE[0]),
            ],
            y_label="requests",
        ),
    ]
    spectrum = r.get("latency_spectrum_ms") or []
    service = r.get("service_spectrum_ms") or []
    if spectrum:
        pos = [_nines(p) for p, _ in spectrum]
        names = [(0.0, "0%"), (1.0, "90%"), (2.0, "99%"), (3.0, "99.9%"), (4.0, "99.99%"), (5.0, "99.999%")]
        service_by_pos = dict(zip([_nines(p) for p, _ in service], [v for _, v in service], strict=False))
        charts.append(
            line_chart(
                "Latency by percentile (HDR): corrected vs. what a closed-loop tool would report",
                pos,
                [
                    Series("from intended send", [v for _, v in spectrum], PALETTE[1], width=4, opacity=0.5),
                    Series(
                        "from actual send (uncorrected)",
                        [service_by_pos.get(p) for p in pos],
                        "#444",
                        dash="6,3",
                        width=1.4,
                    ),
                ],
                y_label="ms (log)",
                x_label="percentile",
                log_y=True,
                x_ticks=names,
            )
        )
    return charts


def _server(r: dict[str, Any]) -> str:
    """The workers' side over the run: their consumer lag and the processes' CPU, with where sending ended
    and the drain did."""
    server = r.get("server")
    if not server:
        return ""
    notes = "".join(f"<li>{escape(n)}</li>" for n in server["notes"])
    x = server["t"]
    if not x:
        return f'<h2 id="server">The server side</h2><ul>{notes}</ul>'
    window = r["ground_truth"].get("burst_window_s")
    rec = r["reconciliation"]
    marks = [Mark(r["duration_s"], "last answer")]
    if rec.get("drain_s") is not None:
        marks.append(
            Mark(r["duration_s"] + rec["drain_s"], "drained" if rec.get("drained") else "drain wait ended")
        )

    def chart(title: str, series: list[Series], y_label: str) -> str:
        return line_chart(
            title,
            x,
            series,
            y_label=y_label,
            shade=(window[0], window[1]) if window else None,
            shade_label="incident burst" if window else "",
            x_ticks=ticks,
            x_label=x_label,
            marks=marks,
        )

    ticks, x_label = _clock_ticks(r, x, end=max(x[-1], *(m.x for m in marks)))
    charts = []
    if server["lag"]:
        lag_lines = [
            Series(f"{lane} lane", values, color, width=width, marker=marker)
            for lane, values in server["lag"].items()
            for color, width, marker in [_LANE_STYLE.get(lane, ("#333", 1.6, False))]
        ]
        charts.append(chart("Workers' consumer lag: intake records not yet committed", lag_lines, "records"))
    if server["cpu_pct"]:
        colors = iter((*PALETTE[2:4], *PALETTE[6:], *PALETTE[:2]))
        cpu_lines = [
            _cpu_series(name, values, server.get("cores"), colors)
            for name, values in sorted(server["cpu_pct"].items(), key=lambda kv: kv[0] != "machine")
        ]
        charts.append(chart("CPU over the run (% of one core)", cpu_lines, "% of a core"))
    summary = server["summary"]
    rows = [[f"lag max, {lane} lane", v] for lane, v in summary["lag_max"].items()]
    rows += [[f"lag at the end, {lane} lane", v] for lane, v in summary["lag_at_end"].items()]
    rows += [[f"CPU mean, {name}", _pct_of_core(v)] for name, v in summary["cpu_mean_pct"].items()]
    return "".join(
        [
            '<h2 id="server">The server side: workers\' lag and CPU</h2>',
            f'<div class="sub">sampled every {_v(server["interval_s"])} s ({server["samples"]:,} samples); '
            f"lag: {escape(str(server.get('lag_source') or 'not read'))}; CPU in % of one core: each process "
            "from its own metrics or /proc, the machine's from /proc/stat (every process on it, other work "
            "included)</div>",
            *charts,
            _table(["figure", "value"], rows),
            f"<ul>{notes}</ul>" if notes else "",
        ]
    )


# The normal lane wide, the urgent lane thin with markers: both stay visible when both are empty.
_LANE_STYLE = {"normal": (PALETTE[0], 2.4, False), "urgent": (PALETTE[1], 1.2, True)}


def _cpu_series(name: str, values: list[float | None], cores: int | None, colors: Iterator[str]) -> Series:
    """The whole machine wide and pale under the processes; the services and the gateway styled apart."""
    if name == "machine":
        return Series(f"machine, {cores or '?'} cores", values, "#bbb", width=5, opacity=0.6)
    if name == "other":
        return Series("other work on the machine", values, "#bbb", dash="4,3", width=2)
    if name in ("kafka", "postgres"):
        return Series(name, values, PALETTE[5] if name == "kafka" else PALETTE[4], dash="2,2", width=1.4)
    if name == "simulator":
        return Series("simulator", values, "#777", dash="1,3", width=1.8)
    if name == "gateway":
        return Series(name, values, "#333", dash="7,3", width=1.6)
    return Series(name, values, next(colors, "#333"), width=1.8)


def _pct_of_core(value: float | None) -> str | None:
    return None if value is None else f"{value:.0f} % of a core"


def _nines(pct: float) -> float:
    """Position of a percentile on the 'number of nines' axis: 90% → 1, 99% → 2, 100% → 5.2."""
    return min(5.2, -math.log10(max(1e-6, 1.0 - pct / 100.0)))


def _urgent(lane: dict[str, Any]) -> str:
    """The urgent lane: labelled messages scored against their labels, and their time to complaints.urgent."""
    missing = lane["missing_on_urgent"]
    cards = [
        _card("labelled urgent / hard negatives", f"{lane['count']:,} / {lane['hard_negatives']:,}"),
        _card("recall (critical or high)", _pct(lane["recall"])),
        _card("critical recall (got critical)", _pct(lane["critical_recall"])),
        _card("false alarms (hard negatives)", _pct(lane["false_alarm_rate"])),
        _card("regular traffic flagged", _pct(lane["flagged_share_of_regular"])),
        _card("e2e p50 / p99 to urgent topic", f"{_v(lane['e2e_p50_s'])} / {_v(lane['e2e_p99_s'])}", " s"),
        _card("e2e max / service p99", f"{_v(lane['e2e_max_s'])} / {_v(lane['service_p99_s'])}", " s"),
        _card("missing on complaints.urgent", missing, cls=_zero_class(missing)),
    ]
    counts = ("planned", "accepted", "judged", "critical", "high", "on_urgent", "e2e_p50_s", "e2e_p99_s")
    level_head = ["label", "planned", "accepted", "judged", "got critical", "got high", "on urgent topic"]
    by_level = _table(
        [*level_head, "e2e p50 s", "e2e p99 s"],
        [[level, *(row[k] for k in counts)] for level, row in lane["by_level"].items()],
    )
    burst = lane["in_burst_window"]
    in_burst = _table(
        ["in the burst's half hour", "value"],
        [
            ["labelled urgent", burst["count"]],
            ["on complaints.urgent", burst["on_urgent"]],
            ["e2e p99 s", burst["e2e_p99_s"]],
            ["e2e max s", burst["e2e_max_s"]],
            ["burst reports flagged critical or high", _pct(lane["flagged_share_of_burst"])],
        ],
    )
    samples = [
        [kind, s["id"], s["channel"], s["level"], s["situation"], s["got"], s["got_situation"]]
        for kind, key in (("missed", "misses_sample"), ("false alarm", "false_alarms_sample"))
        for s in lane[key]
    ]
    head = ["", "corpus id", "channel", "label", "situation", "got", "got situation"]
    notes = "".join(f"<li>{escape(n)}</li>" for n in lane["notes"])
    return "".join(
        [
            '<h2 id="urgent">Urgent lane (labelled messages)</h2>',
            f'<div class="cards">{"".join(cards)}</div>',
            by_level,
            in_burst,
            _table(head, samples) if samples else "",
            f"<ul>{notes}</ul>" if notes else "",
        ]
    )


# The tables' rows under the names the headline uses (the JSON keeps its keys).
_RECONCILIATION_NAMES = {
    "accepted": "tickets (distinct ids answered 202)",
    "stored": "stored (tickets with a row)",
    "missing": "missing (must be 0)",
    "duplicate_rows": "duplicate rows (must be 0)",
    "ticket_keys": "tickets in ticket_keys",
    "drained": "drained (every ticket stored before the wait ended)",
    "drain_s": "drain, s (last answer → every ticket stored)",
    "stored_without_202": "stored without a 202 here (the client gave up first; not an error)",
    "skipped": "reconciliation skipped because",
}
_BURST_NAMES = {
    "sent": "burst requests sent",
    "accepted": "burst tickets",
    "stored": "burst tickets stored",
    "grouped": "in an incident",
    "incidents": "incidents they formed",
    "largest_incident": "in the largest incident",
    "largest_share": f"share in the largest incident (target ≥ {BURST_IN_LARGEST_TARGET:.0%})",
    "others_in_largest": "other tickets in the largest (over-grouping)",
}
_KIND_NAMES = {"invalid": "invalid (4xx expected)", "retry": "retry (202 with the original's ticket)"}


def _headline(r: dict[str, Any]) -> str:
    """The cards a reader sees first, in four rows: traffic, latency, the pipeline's end, repeats and burst.
    202 responses and tickets keep those names everywhere; each target is beside its figure."""
    hl = r.get("headline") or headline(r)
    lat, e2e, rec = r["latency_ms"], r["e2e_latency_ms"], r["reconciliation"]
    retries = r["dedupe"]["client_retries"]
    resub_share, burst_share = hl["resubmissions_linked_share"], hl["burst_largest_share"]
    resub_target, burst_target = hl["resubmissions_target_share"], hl["burst_target_share"]
    drain = hl["drain_s"]
    lag_max = hl.get("lag_max") or {}
    traffic = [
        _card("requests sent", r["sent"], note=f"{r['not_sent']:,} not sent" if r["not_sent"] else ""),
        _card(
            "202 responses",
            hl["responses_202"],
            note=f"{hl['retries_answered_202']:,} of them client retries",
        ),
        _card("tickets", hl["tickets"], note="distinct ticket ids answered 202"),
        _card(
            "4xx expected",
            hl["expected_4xx"],
            note=f"of {hl['invalid_planned']:,} invalid on purpose",
            cls="ok" if hl["expected_4xx"] == hl["invalid_planned"] else "bad",
        ),
        _card(
            "4xx unexpected",
            hl["unexpected_4xx"],
            cls=_zero_class(hl["unexpected_4xx"]),
            note=f"valid submissions refused; {hl['throttled_429']:,} throttled (429)",
        ),
        _card(
            "errors",
            hl["errors"],
            cls=_zero_class(hl["errors"]),
            note=f"5xx {r['errors_5xx']:,}, timeouts {r['timeouts']:,}, conn. {r['transport_errors']:,}",
        ),
        _card("throughput", r["throughput_rps"], " /s", note=f"responses; 202s {_v(r['accepted_rps'])}/s"),
        _card("duration", r["duration_s"], " s", note="first request to last answer"),
    ]
    timing = [
        _card("latency p50", _ms(lat["p50"]), note="from the intended send time"),
        _card("latency p99", _ms(lat["p99"])),
        _card("latency p99.9 / max", _ms(lat["p999"], lat["max"])),
        _card(
            "end-to-end p50 / p99",
            _ms(e2e["p50"], e2e["p99"]),
            note=f"202 → processed event ({e2e['source']})",
        ),
    ]
    pipeline = [
        _card("missing tickets", rec["missing"], cls=_zero_class(rec["missing"]), note="must be 0"),
        _card(
            "duplicate rows", rec["duplicate_rows"], cls=_zero_class(rec["duplicate_rows"]), note="must be 0"
        ),
        _card(
            "drain",
            drain,
            " s",
            cls="na" if drain is None else ("ok" if hl["drained"] else "bad"),
            note="last answer → every ticket stored"
            if hl["drained"] or drain is None
            else "not drained when the wait ended",
        ),
        _card(
            "stored / tickets",
            f"{_v(rec['stored'])} / {_v(rec['accepted'])}",
            note=", ".join(f"lag max {lane} {_v(v)}" for lane, v in lag_max.items()),
        ),
    ]
    repeats = [
        _card(
            "client retries, same ticket",
            f"{retries['same_ticket']:,} / {retries['sent']:,}",
            cls=_zero_class(retries["different_ticket"]),
            note=f"target: all; {retries['different_ticket']:,} got another ticket",
        ),
        _card(
            "resubmissions linked",
            _pct(resub_share),
            cls=_target_class(resub_share, resub_target),
            note=f"{_v(hl['resubmissions_linked'])} of {hl['resubmissions_sent']:,} to their original, "
            f"{_v(hl['resubmissions_unlinked'])} unlinked, "
            f"{_v(hl['resubmissions_linked_elsewhere'])} elsewhere; "
            f"target ≥ {resub_target:.0%}, none elsewhere",
        ),
        _card(
            "burst in its largest incident",
            _pct(burst_share),
            cls=_target_class(burst_share, burst_target),
            note=f"{_v(hl['burst_largest_incident'])} of {_v(hl['burst_tickets'])} burst tickets; "
            f"target ≥ {burst_target:.0%}",
        ),
        _card(
            "burst incidents",
            r["dedupe"]["burst"]["incidents"],
            note=f"{_v(r['dedupe']['burst']['others_in_largest'])} other tickets in the largest",
        ),
    ]
    return "".join(f'<div class="cards">{"".join(row)}</div>' for row in (traffic, timing, pipeline, repeats))


def render(r: dict[str, Any]) -> str:
    """The report as an HTML page."""
    run, rec, dd = r["run"], r["reconciliation"], r["dedupe"]
    verdict = '<b class="ok">all checks passed</b>' if r["ok"] else '<b class="bad">CHECKS FAILED</b>'
    checks = "".join(
        f'<li class="{"na" if ok is None else "ok" if ok else "bad"}">'
        f"{'–' if ok is None else '✓' if ok else '✗'} {escape(name)}</li>"
        for name, ok in r["checks"].items()
    )
    notes = "".join(
        f"<li>{escape(n)}</li>" for n in [*r.get("warnings", []), *r.get("notes", []), *dd.get("notes", [])]
    )
    cards = _headline(r)
    # The request rate and latency first, then whether the workers kept up, then the client's details.
    charts = _charts(r)
    by_channel = [
        [ch, s["count"], s["p50"], s["p90"], s["p99"], s["p999"], s["max"]]
        for ch, s in r["latency_by_channel_ms"].items()
    ]
    lat_rows = [
        [name, s["count"], s["p50"], s["p90"], s["p99"], s["p999"], s["max"]]
        for name, s in (
            ("from intended send (reported)", r["latency_ms"]),
            ("from actual send (uncorrected)", r["service_time_ms"]),
            ("waiting in the client backlog", r["queue_wait_ms"]),
            ("dispatcher lateness", r["dispatch_lag_ms"]),
        )
    ]
    kinds = r["outcomes_by_kind"]
    outcome_names = [
        "accepted",
        "rejected_4xx",
        "throttled_429",
        "errors_5xx",
        "timeouts",
        "transport_errors",
        "not_sent",
    ]
    kind_rows = [[_KIND_NAMES.get(k, k), *(v.get(o, 0) for o in outcome_names)] for k, v in kinds.items()]
    cr, rs, bu = dd["client_retries"], dd["resubmissions"], dd["burst"]
    retry_row = ["client retries (same external_id)", cr["sent"], cr["same_ticket"], cr["different_ticket"]]
    resub_row = ["resubmissions (new external_id)", rs["sent"], rs["linked"], rs["linked_elsewhere"]]
    dedupe_rows = [[*retry_row, cr["unverified"]], [*resub_row, rs["unverified"]]]
    burst_rows = [
        [_BURST_NAMES[k], _pct(v) if k == "largest_share" else v] for k, v in bu.items() if k in _BURST_NAMES
    ]
    rec_rows = [
        [_RECONCILIATION_NAMES.get(k, k), v] for k, v in rec.items() if k not in ("missing_sample", "columns")
    ]
    gt = r["ground_truth"]
    gt_rows = [[k, v] for k, v in gt["by_kind"].items()] + [
        [f"channel {k}", v] for k, v in gt["by_channel"].items()
    ]
    gt_rows += [[f"labelled {k}", v] for k, v in (gt.get("labelled") or {}).items()]
    config_rows = [[k, v] for k, v in run.items()]
    return "".join(
        [
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            f"<title>jiesu loadtest {escape(str(run['run_id']))}</title><style>{_CSS}</style></head><body>",
            f"<h1>Surge-day simulator — {escape(str(run['profile']))}</h1>",
            f'<div class="sub">run <code>{escape(str(run["run_id"]))}</code> · '
            f"{escape(str(run['started_at']))} · target {escape(str(run['target']))} · {verdict}</div>",
            cards,
            f'<h2 id="checks">Checks</h2><ul>{checks}</ul>',
            f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "",
            '<h2 id="over-time">Over time</h2>',
            *charts[:2],
            _server(r),
            '<h2 id="client">The client side over time</h2>' if r.get("server") else "",
            *charts[2:],
            '<h2 id="latency">Latency (ms)</h2>',
            _table(["measured", "count", "p50", "p90", "p99", "p99.9", "max"], lat_rows),
            _table(["channel", "count", "p50", "p90", "p99", "p99.9", "max"], by_channel),
            '<h2 id="outcomes">Outcomes by kind of request</h2>',
            _table(["kind", "202", *outcome_names[1:]], kind_rows),
            _table(["status", "count"], [[k, v] for k, v in r["status_codes"].items()]),
            '<h2 id="reconciliation">Reconciliation against Postgres</h2>',
            _table(["figure", "value"], rec_rows),
            '<h2 id="dedupe">Repeats and the burst</h2>',
            _table(
                ["repeat", "sent", "linked to original", "linked elsewhere / other ticket", "unverified"],
                dedupe_rows,
            ),
            _table(["burst", "value"], burst_rows),
            _urgent(r["urgent"]) if "urgent" in r else "",
            brief_check.html_section(r["brief"]) if "brief" in r else "",  # issue 17: loadtest/brief_check.py
            '<h2 id="ground-truth">Ground truth (what the generator made)</h2>',
            _table(["", "count"], gt_rows),
            '<h2 id="config">Run configuration</h2>',
            _table(["setting", "value"], config_rows),
            "</body></html>\n",
        ]
    )


def write_html(report: dict[str, Any], path: Path) -> None:
    """Write the HTML report of `report` to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
