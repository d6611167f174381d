"""The bench's pure parts: wrk output, Lua quoting, rates from samples, the histogram p99, the table."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from loadtest.bench import records, report, wrk
from loadtest.bench.pipeline import (
    crossing,
    histogram_p99,
    lock_seconds,
    plain_dsn,
    sqlalchemy_url,
    sustained_cpu_rate,
    sustained_rate,
)

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8000
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    30.12ms   10.00ms 200.00ms   80.00%
    Req/Sec     2.10k   100.00     2.30k    70.00%
  Latency Distribution
     50%   28.50ms
     75%   33.00ms
     90%   40.00ms
     99%    1.20s
  21000 requests in 10.00s, 5.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 10
Requests/sec:   2100.00
Transfer/sec:    512.00KB
"""


def test_wrk_output_is_parsed() -> None:
    r = wrk.parse(WRK_OUTPUT)
    assert (r.requests, r.seconds, r.non_2xx, r.socket_errors) == (21000, 10.0, 10, 3)
    assert r.p50_ms == pytest.approx(28.5)
    assert r.p99_ms == pytest.approx(1200.0)
    assert r.ok_rps == pytest.approx(2099.0)


def test_wrk_output_without_errors() -> None:
    r = wrk.parse("  500 requests in 1.00m, 1MB read\n")
    assert (r.requests, r.seconds, r.non_2xx, r.socket_errors, r.p99_ms) == (500, 60.0, 0, 0, None)


def test_wrk_refuses_other_hosts(tmp_path: Path) -> None:
    script = wrk.write_script(tmp_path / "x.lua", "/", ["{}"])
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        wrk.run("http://example.org:80", script, seconds=1, connections=1)


def test_lua_long_string_holds_any_text() -> None:
    assert wrk.lua_string("plain") == "[[plain]]"
    assert wrk.lua_string("a]]b") == "[=[a]]b]=]"
    assert wrk.lua_string("a]]b]=]c") == "[==[a]]b]=]c]==]"


def test_bodies_carry_the_id_mark_and_are_valid_json() -> None:
    bodies = records.bodies(5)
    assert len(bodies) == 5 and all(wrk.ID_MARK in b for b in bodies)
    assert all(isinstance(orjson.loads(b.replace(wrk.ID_MARK, "x")), dict) for b in bodies)
    batch = orjson.loads(records.batch_bodies(1, 3)[0])
    assert len(batch["items"]) == 3


def test_intake_records_are_distinct_tickets() -> None:
    recs = records.intake_records(20, "t")
    assert len({r.ticket_id for r in recs}) == 20
    assert all(r.content for r in recs)


def test_crossing_and_sustained_rate() -> None:
    samples = [(0.0, 0), (1.0, 0), (2.0, 100), (3.0, 300), (4.0, 500), (5.0, 500)]
    assert crossing(samples, 50) == pytest.approx(1.5)
    assert crossing(samples, 600) is None
    # 10 % (50) at 1.5 s, 90 % (450) at 3.75 s: 400 records in 2.25 s
    assert sustained_rate(samples, 500) == pytest.approx(400 / 2.25)
    assert sustained_rate([(1.0, 10)], 500) == 0.0


def test_sustained_cpu_rate_counts_the_workers_cpu_over_the_same_stretch() -> None:
    samples = [(0.0, 0), (1.0, 0), (2.0, 100), (3.0, 300), (4.0, 500), (5.0, 500)]
    # Start-up burns 5 CPU-seconds before the first record; then 0.5 CPU-s per wall second.
    cpu = [(0.0, 0.0), (1.0, 5.0), (2.0, 5.5), (3.0, 6.0), (4.0, 6.5), (5.0, 6.5)]
    # 10 % at 1.5 s (5.25 CPU-s), 90 % at 3.75 s (6.375 CPU-s): 400 records in 1.125 CPU-s
    assert sustained_cpu_rate(samples, cpu, 500) == pytest.approx(400 / 1.125)
    assert sustained_cpu_rate(samples, cpu[:2], 500) == 0.0


def test_histogram_p99() -> None:
    text = "\n".join(
        [
            'jiesu_worker_batch_seconds_bucket{le="0.1"} 90.0',
            'jiesu_worker_batch_seconds_bucket{le="0.25"} 98.0',
            'jiesu_worker_batch_seconds_bucket{le="0.5"} 100.0',
            'jiesu_worker_batch_seconds_bucket{le="+Inf"} 100.0',
        ]
    )
    assert histogram_p99(text) == 0.5
    assert histogram_p99("") is None


def test_database_urls() -> None:
    url = "postgresql+asyncpg://jiesu@127.0.0.1:15432/jiesu"
    assert plain_dsn(url) == "postgresql://jiesu@127.0.0.1:15432/jiesu"
    assert sqlalchemy_url(url, "jiesu_bench_x") == "postgresql+asyncpg://jiesu@127.0.0.1:15432/jiesu_bench_x"


def test_table_marks_targets() -> None:
    figures = {"gateway_ratio": 0.5, "gateway_p99_ms": 20.0, "worker_rss_mb": None}
    met = report.verdicts(figures)
    assert met["gateway_ratio"] is False and met["gateway_p99_ms"] is True and met["worker_rss_mb"] is None
    text = report.table(figures)
    assert "| gateway_ratio | 0.500 | >= 0.600 | MISSED |" in text
    assert "| gateway_p99_ms | 20 | <= 50 | met |" in text


def test_lock_seconds_reads_the_bucket_lock_sums() -> None:
    text = (
        "jiesu_worker_bucket_lock_wait_seconds_count 12.0\n"
        "jiesu_worker_bucket_lock_wait_seconds_sum 3.5\n"
        "jiesu_worker_bucket_lock_held_seconds_sum 7.25\n"
    )
    assert lock_seconds(text) == {"wait": 3.5, "held": 7.25}
    # Prometheus writes small sums in exponent form.
    assert lock_seconds("jiesu_worker_bucket_lock_wait_seconds_sum 4.5e-05\n") == {"wait": 4.5e-05}
    assert lock_seconds("") == {}


def test_rollup_cost_compares_the_runs_with_and_without_the_reports_worker() -> None:
    base = {
        "partitions": 12,
        "wall_rate": 1.0,
        "batch_p99_s": 0.1,
        "worker_rss_mb": 1.0,
        "worker_cpu_share": 0.5,
    }
    runs = [
        {**base, "workers": 1, "rollups": False, "sustained_rate": 900.0},
        {**base, "workers": 2, "rollups": False, "sustained_rate": 1000.0},
        {**base, "workers": 2, "rollups": True, "sustained_rate": 920.0, "rollups_cpu_share": 0.04,
         "rollups_lag_s": 1.5},
    ]  # fmt: skip
    figures = report.rollup_cost(runs)
    assert figures == {
        "pipeline_rate_rollups": 920.0,
        "rollup_cost": 0.08,
        "rollups_cpu_share": 0.04,
        "rollups_lag_s": 1.5,
    }
    assert report.verdicts(figures)["rollup_cost"] is True
    assert report.verdicts({"rollup_cost": 0.15})["rollup_cost"] is False
    assert report.rollup_cost(runs[:2]) == {}  # no run with the reports worker: nothing to compare
    assert "| 2 | on | 12 | 920 |" in report.scaling_table(runs)
