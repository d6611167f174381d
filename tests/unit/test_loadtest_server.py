"""The server side of a run (CPU from metrics pages, bounded sampling) and the page's headline and charts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from loadtest import server
from loadtest.html import render
from loadtest.plan import PlanSpec, build_plan
from loadtest.server import ServerWatch, WatchTargets, cpu_line, percent_of_core
from loadtest.svg import Mark, Series, line_chart
from tests.unit.test_loadtest_report import _report


def test_cpu_seconds_are_read_from_a_metrics_page_and_turned_into_a_share_of_a_core() -> None:
    page = "# HELP process_cpu_seconds_total x\nprocess_cpu_seconds_total 12.5\nprocess_open_fds 9.0\n"
    assert cpu_line(page) == 12.5
    assert cpu_line("jiesu_worker_consumer_lag 3.0\n") is None
    # 0.5 s of CPU in 1 s is half a core; a missing reading leaves a gap on both sides of it.
    assert percent_of_core([0.0, 1.0, 2.0, 3.0, 4.0], [1.0, 1.5, None, 3.0, 4.0]) == [
        None,
        50.0,
        None,
        None,
        100.0,
    ]


async def test_the_watch_samples_until_stopped_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "MAX_SAMPLES", 6)
    watch = ServerWatch(WatchTargets(kafka=None, topic_prefix="", group="g", interval_s=0.01))
    await watch.start()
    await asyncio.sleep(0.4)
    await watch.stop()
    await watch.stop()  # a second stop (the runner's finally) does nothing
    section = watch.section(origin=watch.samples.t[0])
    assert 2 <= section["samples"] <= 7
    assert section["interval_s"] > 0.01  # it thinned its samples and slowed down instead of growing
    assert section["t"] == sorted(section["t"]) and section["t"][0] == 0
    # No metrics URLs: what this machine shows (and the local Kafka and Postgres, when they run).
    assert {"simulator", "machine", "other"} <= set(section["cpu_pct"])
    assert set(section["cpu_pct"]) <= {"simulator", "machine", "other", "kafka", "postgres"}
    # "other" is the machine less the processes named, where all of them were read.
    named = [v for k, v in section["cpu_pct"].items() if k not in ("machine", "other")]
    for i, rest in enumerate(section["cpu_pct"]["other"]):
        machine = section["cpu_pct"]["machine"][i]
        if rest is not None and machine is not None:
            assert rest == pytest.approx(max(0.0, machine - sum(v[i] for v in named)), abs=0.11)
    assert section["lag"] == {}
    assert any("no Kafka address" in n for n in section["notes"])
    assert any("no worker metrics URL" in n for n in section["notes"])


async def test_an_unreachable_metrics_page_is_a_counted_gap_not_a_failure() -> None:
    targets = WatchTargets(
        kafka=None,
        topic_prefix="",
        group="g",
        metrics=(("worker :1", "http://127.0.0.1:1/metrics"),),
        local=False,
    )
    watch = ServerWatch(targets)
    await watch.start()
    await watch.stop()
    section = watch.section(origin=0.0)
    assert section["cpu_pct"]["worker :1"] == [None] * section["samples"]
    assert any(n.startswith("worker :1: ") and "not read" in n for n in section["notes"])


def _server_section(t: list[float]) -> dict[str, Any]:
    return {
        "interval_s": 1.0,
        "samples": len(t),
        "t": t,
        "lag": {"normal": [0, 40, 5], "urgent": [0, 0, 0]},
        "lag_source": "end offsets − committed offsets of group g",
        "cpu_pct": {"machine": [None, 150.0, 120.0], "worker :9101": [None, 40.0, 10.0]},
        "cores": 2,
        "summary": {
            "lag_max": {"normal": 40, "urgent": 0},
            "lag_at_end": {"normal": 5, "urgent": 0},
            "cpu_mean_pct": {"machine": 135.0, "worker :9101": 25.0},
            "cpu_max_pct": {"machine": 150.0, "worker :9101": 40.0},
        },
        "notes": [],
    }


async def test_the_page_answers_the_readers_questions_first() -> None:
    report = await _report()
    report["server"] = _server_section([0.0, report["duration_s"] / 2, report["duration_s"]])
    page = render(report)
    head = page.split('<h2 id="checks">')[0]
    hl = report["headline"]
    # 202 responses and tickets under their own names; the retries explain the difference.
    assert hl["responses_202"] - hl["tickets"] == hl["retries_answered_202"] > 0
    assert "202 responses" in head and "distinct ticket ids answered 202" in head
    # The planned invalid submissions' 4xx apart from errors, and the repeats and burst against targets.
    assert hl["expected_4xx"] == hl["invalid_planned"] == report["rejected_4xx"] > 0
    assert hl["unexpected_4xx"] == 0
    assert "4xx expected" in head and "4xx unexpected" in head
    assert "resubmissions linked" in head and "target ≥ 90%" in head
    assert "burst in its largest incident" in head and "target ≥ 95%" in head
    assert "drain" in head
    assert any("invalid on purpose" in n for n in report["notes"])
    # The workers' side: both charts, with where sending ended.
    assert "Workers&#x27; consumer lag" in page and "CPU over the run" in page and "last answer" in page


async def test_a_scale_that_leaves_the_night_empty_says_so() -> None:
    report = await _report()  # scale 0.002: the night rounds to zero messages a minute
    assert report["ground_truth"]["minutes_without_arrivals"] > 0
    assert any("rounds to zero" in n for n in report["notes"])
    day = build_plan(PlanSpec(profile="surge-day", scale=0.02, compression=480, urgent_share=0))
    assert day.ground_truth()["minutes_without_arrivals"] == 0 and day.empty_minutes == []


def test_coinciding_lines_stay_apart_and_marks_widen_the_axis() -> None:
    same = [1.0, 2.0, 3.0]
    svg = line_chart(
        "t",
        [0.0, 1.0, 2.0],
        [
            Series("planned", same, "#999", width=6, opacity=0.45),
            Series("sent", same, "#00f", dash="9,4"),
            Series("202", same, "#0f0", marker=True),
        ],
        marks=[Mark(4.0, "drained")],
    )
    assert 'stroke-width="6"' in svg and 'stroke-opacity="0.45"' in svg
    assert 'stroke-dasharray="9,4"' in svg and "<circle" in svg
    assert ">drained</text>" in svg  # a mark past the last point still shows: the axis spans it


async def test_a_sample_cut_short_by_stop_leaves_every_series_one_value_per_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "READ_TIMEOUT_S", 0.3)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)  # a metrics page that never answers: every scrape waits its timeout

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        targets = WatchTargets(
            kafka=None,
            topic_prefix="",
            group="g",
            metrics=(("worker :x", f"http://127.0.0.1:{port}/metrics"),),
            local=False,
            interval_s=0.01,
        )
        watch = ServerWatch(targets)
        await watch.start()
        await asyncio.sleep(0.45)  # stop() comes while a scrape waits
        await watch.stop()
    finally:
        listener.close()
    samples = watch.samples
    assert len(samples.t) >= 2
    assert all(len(v) == len(samples.t) for v in samples.cpu_s.values())
    assert all(len(v) == len(samples.t) for v in samples.cpu_at.values())
