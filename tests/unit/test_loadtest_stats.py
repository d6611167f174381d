"""HDR percentiles, the coordinated-omission correction, and series over time."""

from __future__ import annotations

import pytest

from loadtest.plan import PlanSpec, build_plan
from loadtest.results import Recorder, Reply
from loadtest.stats import MAX_BUCKETS, BucketLatency, Latency, bucket_width


def test_percentiles_of_a_known_distribution() -> None:
    lat = Latency()
    for ms in range(1, 1001):
        lat.record(ms / 1000)
    s = lat.summary_ms()
    assert s["count"] == 1000
    assert s["p50"] == pytest.approx(500, rel=0.01)
    assert s["p90"] == pytest.approx(900, rel=0.01)
    assert s["p99"] == pytest.approx(990, rel=0.01)
    assert s["p999"] == pytest.approx(999, rel=0.01)
    assert s["max"] == pytest.approx(1000, rel=0.001)
    assert s["mean"] == pytest.approx(500.5, rel=0.01)


def test_empty_histogram_reports_none() -> None:
    s = Latency().summary_ms()
    assert s["count"] == 0 and s["p50"] is None and s["max"] is None


def test_latency_is_taken_from_the_intended_send_time() -> None:
    # A request due at t=0 that could only leave at 0.9 s (the client was waiting on a stalled server)
    # and was answered at 1.0 s: 1,000 ms for the citizen, though the server spent only 100 ms on it.
    plan = build_plan(PlanSpec(messages=10, retry_share=0, resubmit_share=0, invalid_share=0))
    rec = Recorder(plan, bucket_s=1.0)
    rec.on_sent(0.9, 0.0)
    rec.on_reply(0, 0.0, 0.9, 1.0, Reply(202, "T0"))
    assert rec.latency.percentile_ms(100) == pytest.approx(1000, rel=0.01)
    assert rec.service.percentile_ms(100) == pytest.approx(100, rel=0.01)
    assert rec.queue_wait.percentile_ms(100) == pytest.approx(900, rel=0.01)


def test_stall_shows_in_the_corrected_tail_and_not_in_the_naive_one() -> None:
    # 1,000 requests due every 10 ms; the server stalls once for 2 s. Open loop: the 200 requests due during
    # the stall all wait for it. A naive closed-loop measurement records one slow request.
    corrected, naive = Latency(), Latency()
    stall_start, stall = 5.0, 2.0
    for i in range(1000):
        due = i * 0.01
        done = (
            max(due, stall_start + stall) + 0.001 if stall_start <= due < stall_start + stall else due + 0.001
        )
        corrected.record(done - due)
    for i in range(1000):
        naive.record(2.0 if i == 500 else 0.001)
    assert corrected.percentile_ms(90) > 500  # a tenth of the requests waited on the stall
    assert naive.percentile_ms(99) < 5  # the naive tool says the server was fine 99.9 % of the time
    assert corrected.percentile_ms(100) == pytest.approx(naive.percentile_ms(100), rel=0.01)


def test_spectrum_is_monotonic_and_ends_at_the_max() -> None:
    lat = Latency()
    for ms in (1, 2, 3, 5, 8, 13, 21, 34, 55, 89) * 10:
        lat.record(ms / 1000)
    points = lat.spectrum_ms()
    values = [v for _, v in points]
    assert values == sorted(values)
    assert values[-1] == pytest.approx(89, rel=0.01)


def test_bucket_width_keeps_series_short() -> None:
    for span in (1, 59, 180, 3600, 86_400, 10 * 86_400):
        assert span / bucket_width(span) <= MAX_BUCKETS
    assert bucket_width(180) == 1


def test_bucket_latency_series_has_gaps_for_empty_buckets() -> None:
    b = BucketLatency()
    b.record(0, 0.010)
    b.record(2, 0.500)
    p50 = b.series(3, 50.0)
    assert p50[0] == 10.0 and p50[1] is None and p50[2] == pytest.approx(500, rel=0.01)
    assert b.series(3, None)[2] == pytest.approx(500, rel=0.01)
