"""The load generator: the day's curve, the burst, channel mix, retries, invalid share, determinism."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from ingest.schemas.submission import Submission
from loadtest import curve
from loadtest.bodies import Messages
from loadtest.plan import (
    BURST_WINDOW_S,
    CHANNELS,
    SURGE_BURST_MESSAGES,
    Kind,
    PlanSpec,
    build_plan,
)
from loadtest.texts import Corpus, everyday, incident, paraphrase

SUBMISSION = TypeAdapter(Submission)


def test_curve_shares_sum_to_one_and_counts_sum_exactly() -> None:
    assert curve.hourly_shares().sum() == pytest.approx(1.0)
    assert curve.minute_weights().sum() == pytest.approx(1.0)
    for total in (0, 1, 7, 2_000, 200_000, 1_200_000):
        counts = curve.apportion(total, curve.minute_weights())
        assert int(counts.sum()) == total
        assert counts.min() >= 0


def test_curve_has_morning_and_afternoon_peaks_and_a_quiet_night() -> None:
    hours = curve.hourly_shares()
    night, morning, lunch, afternoon = hours[0:6].mean(), hours[9:12].mean(), hours[12], hours[14:17].mean()
    assert morning > 5 * night and afternoon > 5 * night
    assert lunch < morning and lunch < afternoon  # the dip between the two peaks
    assert int(np.argmax(hours)) in range(9, 12)


def test_day_offsets_follow_the_curve() -> None:
    times = curve.day_offsets(100_000, np.random.default_rng(1))
    assert len(times) == 100_000
    assert np.all(np.diff(times) >= 0) and times[0] >= 0 and times[-1] < curve.DAY_S
    per_hour = np.bincount((times // 3600).astype(int), minlength=24) / len(times)
    assert np.abs(per_hour - curve.hourly_shares()).max() < 0.01


@pytest.mark.parametrize(("profile", "messages"), [("normal-day", 2_000), ("surge-day", 12_000)])
def test_day_profiles_scale_their_daily_totals(profile: str, messages: int) -> None:
    plan = build_plan(PlanSpec(profile=profile, scale=0.01, compression=1440))
    assert plan.messages == messages
    assert plan.span_s <= 60.0  # 24 h replayed in one minute


def test_surge_day_burst_is_one_half_hour_in_all_channels() -> None:
    spec = PlanSpec(profile="surge-day", scale=0.05, compression=1.0)
    plan = build_plan(spec)
    burst = plan.msg_kind == Kind.BURST
    assert int(burst.sum()) == round(SURGE_BURST_MESSAGES * 0.05)
    at = plan.msg_at[burst]
    assert at.min() >= spec.burst_at_s and at.max() <= spec.burst_at_s + BURST_WINDOW_S
    assert (at < spec.burst_at_s + BURST_WINDOW_S / 2).mean() > 0.8  # most of it early: a rise and decay
    assert set(plan.msg_channel[burst].tolist()) == {0, 1, 2}
    assert plan.burst_window == (spec.burst_at_s, spec.burst_at_s + BURST_WINDOW_S)


def test_burst_texts_are_paraphrases_of_one_incident() -> None:
    inc = incident(random.Random(3), "heating")
    texts = [paraphrase(inc, random.Random(i)) for i in range(300)]
    assert len({t.content for t in texts}) > 250  # in their own words, not copies
    assert all(inc.estate in t.content or inc.road in t.content or t.address == inc.estate for t in texts)
    assert {t.district for t in texts} <= {inc.district, None}


def test_channel_mix_is_kept_within_tolerance() -> None:
    plan = build_plan(PlanSpec(messages=20_000, retry_share=0, resubmit_share=0))
    shares = np.bincount(plan.msg_channel, minlength=3) / plan.messages
    assert np.abs(shares - np.array([0.55, 0.30, 0.15])).max() < 0.015
    other = build_plan(PlanSpec(messages=20_000, channel_mix=(0.0, 0.0, 1.0)))
    assert set(other.msg_channel.tolist()) == {CHANNELS.index("web")}


def test_retries_resend_the_same_body_with_the_same_external_id_later() -> None:
    plan = build_plan(PlanSpec(messages=3_000, retry_share=0.1))
    messages = Messages(plan, "run1")
    retries = np.flatnonzero(plan.kind == Kind.RETRY)
    assert len(retries) == round(0.1 * int((plan.msg_kind != Kind.INVALID).sum()))
    for r in retries[:200].tolist():
        m = int(plan.msg[r])
        assert plan.msg_kind[m] != Kind.INVALID
        assert plan.at[r] >= plan.msg_at[m]
        assert messages.body(m) == messages.body(m)  # a retry posts exactly the original bytes
        body = orjson.loads(messages.body(m))
        assert (body.get("external_id") or body["call"]["call_id"]) == messages.external_id(m)
    assert len({messages.external_id(m) for m in range(plan.messages)}) == plan.messages


def test_invalid_share_and_every_body_validates_as_its_kind_says() -> None:
    spec = PlanSpec(messages=4_000, invalid_share=0.05)
    plan = build_plan(spec)
    messages = Messages(plan, "run1")
    invalid = np.flatnonzero(plan.msg_kind == Kind.INVALID)
    assert len(invalid) == round(0.05 * plan.messages)  # the constant profile has no burst
    for m in range(plan.messages):
        body = messages.body(m)
        if plan.msg_kind[m] == Kind.INVALID:
            with pytest.raises(ValidationError):
                SUBMISSION.validate_json(body)
        else:
            SUBMISSION.validate_json(body)
    forms = {messages.invalid_form(int(m)) for m in invalid}
    assert len(forms) >= 6  # broken in many ways, not one


def test_resubmissions_come_from_the_same_citizen_under_a_new_external_id() -> None:
    plan = build_plan(PlanSpec(messages=5_000, resubmit_share=0.05))
    messages = Messages(plan, "run1")
    resubmitted = np.flatnonzero(plan.msg_kind == Kind.RESUBMIT)
    assert len(resubmitted) > 200
    for m in resubmitted[:100].tolist():
        ref = int(plan.msg_ref[m])
        assert plan.msg_kind[ref] == Kind.ORIGINAL and plan.msg_at[ref] <= plan.msg_at[m]
        assert messages.citizen_number(m) == ref
        assert messages.external_id(m) != messages.external_id(ref)
        assert messages.text(ref).content in messages.text(m).content


def test_same_seed_same_plan_and_bodies_other_seed_differs() -> None:
    spec = PlanSpec(profile="surge-day", scale=0.005, compression=1440, seed=7)
    a, b = build_plan(spec), build_plan(spec)
    for name in ("at", "kind", "msg", "msg_channel", "msg_ref"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    ma, mb = Messages(a, "r"), Messages(b, "r")
    assert [ma.body(m) for m in range(0, a.messages, 97)] == [mb.body(m) for m in range(0, b.messages, 97)]
    c = build_plan(PlanSpec(profile="surge-day", scale=0.005, compression=1440, seed=8))
    assert not np.array_equal(a.at, c.at)


def test_constant_profile_is_evenly_spaced_at_the_rate() -> None:
    plan = build_plan(PlanSpec(rate=200, constant_duration_s=5, retry_share=0))
    assert plan.messages == 1_000
    assert np.allclose(np.diff(plan.at), 1 / 200)


def test_window_replays_only_part_of_the_day() -> None:
    spec = PlanSpec(profile="surge-day", scale=0.01, compression=60, window=(19 * 3600.0, 21 * 3600.0))
    plan = build_plan(spec)
    assert plan.span_s <= 2 * 3600 / 60
    assert int((plan.msg_kind == Kind.BURST).sum()) == round(SURGE_BURST_MESSAGES * 0.01)
    assert plan.burst_window == (0.5 * 3600 / 60, (0.5 * 3600 + BURST_WINDOW_S) / 60)


def test_bad_specs_are_refused() -> None:
    for bad in (
        {"profile": "holiday"},
        {"channel_mix": (1.0, 0.0)},
        {"retry_share": 1.5},
        {"scale": 0.0},
        {"window": (10.0, 5.0)},
    ):
        with pytest.raises(ValueError):
            PlanSpec(**bad)


def test_corpus_texts_are_used_for_everyday_messages(tmp_path: Path) -> None:
    path = tmp_path / "messages.csv"
    path.write_text(
        "留言编号,留言用户,留言主题,留言时间,留言详情\n"
        "1,U1,小区路灯坏了,2019/12/30 17:06:14,A市A1区某小区路灯坏了一个月。\n"
        "2,U2,噪音扰民,2019/12/30 18:00:00,楼下商铺夜间噪音很大。\n",
        encoding="utf-8",
    )
    corpus = Corpus.load(path)
    plan = build_plan(PlanSpec(messages=50, invalid_share=0, resubmit_share=0))
    messages = Messages(plan, "r", corpus=corpus)
    contents = {messages.text(m).content for m in range(plan.messages)}
    assert contents <= {"A市A1区某小区路灯坏了一个月。", "楼下商铺夜间噪音很大。"}
    for m in range(plan.messages):
        SUBMISSION.validate_json(messages.body(m))
    assert everyday(random.Random(1)).content  # the built-in generator stays available


def test_reference_corpus_loads_when_present(data_dir: Path) -> None:
    path = data_dir / "messages_unlabelled.csv"
    if not path.exists():
        pytest.skip("shared reference data not present")
    corpus = Corpus.load(path)
    assert len(corpus.rows) > 2_000
    # Real messages run up to ~9,000 characters: every channel's body must still be valid (a long call is
    # split into utterances a transcript segment can hold).
    plan = build_plan(PlanSpec(messages=3_000))
    messages = Messages(plan, "r", corpus=corpus)
    for m in range(plan.messages):
        if plan.msg_kind[m] != Kind.INVALID:
            SUBMISSION.validate_json(messages.body(m))
