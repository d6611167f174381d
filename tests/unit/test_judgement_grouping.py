"""Issue signatures, match scores and online incident grouping over the in-memory store."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from workers.judgement.grouping import GroupingEngine, GroupingMessage, build_engine
from workers.judgement.incidents import GroupingInput, IncidentGrouper
from workers.judgement.judge import Judge
from workers.judgement.memory_store import InMemoryIncidentStore
from workers.judgement.signature import IssueSignature, match_score

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2019, 7, 21, 10, 0)

# Three messages of the challenge's gold group 1 (different citizens, different words, one estate's problem).
SMOKE_A = (
    "A5区劳动东路魅力之城小区一楼的夜宵摊严重污染附近的空气",
    "局长：你好，A5区劳动东路魅力之城小区的一楼，开了几家夜宵快餐店，厨房内多个灶台油烟随意排放，"
    "有的店灶台烧的柴火，气味难闻。",
)
SMOKE_B = (
    "万科魅力之城小区底层门店深夜经营，各种噪音扰民",
    "您好：我是万科魅力之城小区的业主，小区临街的一楼是商铺，尤其是餐馆夜宵摊等，每到凌晨都还在营业，"
    "每到晚上睡觉耳边都充斥着吆喝声、拼酒声、炒菜烧烤的锅铲炭火声，严重影响休息。",
)
SMOKE_C = (
    "A5区劳动东路魅力之城小区油烟扰民",
    "尊敬的政府：A5区劳动东路魅力之城小区临街门面长期油烟直排。长期投诉无果。由于各部门无权力强关。"
    "目前油烟机清洗也没有。每天油烟直排。熏死树木。对环境污染巨大。并且经常深夜经营，各种噪音扰民。",
)
PARKING = (
    "A市万科魅力之城开发商未通知业主就进行车位开盘销售活动",
    "万科魅力之城小区开发商在没有通知业主的情况下，擅自对地下车位开盘销售，价格远高于周边。",
)
PENSION = ("咨询养老保险转移", "我从外省回到A市工作，请问之前缴纳的养老保险怎么转移过来？")


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge.load()


def sig(judge: Judge, msg: tuple[str, str], district: str | None = None) -> IssueSignature:
    return judge.signature(msg[0], msg[1], district)


def test_paraphrases_about_one_place_match(judge: Judge) -> None:
    threshold = judge.artefact.meta["grouping"]["threshold"]
    assert match_score(sig(judge, SMOKE_A), sig(judge, SMOKE_C)) >= threshold
    assert match_score(sig(judge, SMOKE_B), sig(judge, SMOKE_C)) >= threshold


def test_other_problems_of_the_same_estate_or_unrelated_messages_do_not(judge: Judge) -> None:
    threshold = judge.artefact.meta["grouping"]["threshold"]
    # Same estate, other problem: the shared place alone does not reach the threshold.
    assert match_score(sig(judge, SMOKE_C), sig(judge, PARKING)) < threshold
    assert match_score(sig(judge, SMOKE_A), sig(judge, PARKING)) < threshold
    assert match_score(sig(judge, SMOKE_A), sig(judge, PENSION)) < threshold


def test_conflicting_districts_never_match(judge: Judge) -> None:
    assert match_score(sig(judge, SMOKE_A, "A5区"), sig(judge, SMOKE_A, "A6区")) == 0.0


def test_signature_round_trips_through_json(judge: Judge) -> None:
    s = sig(judge, SMOKE_A)
    back = IssueSignature.from_json(orjson.loads(orjson.dumps(s.to_json())))
    assert back.places == s.places and back.district == s.district
    assert match_score(s, back) == pytest.approx(1.0, abs=1e-3)
    assert "@魅力之城小区" in s.retrieval_keys()


def _grouper(window_days: float = 90) -> tuple[IncidentGrouper, InMemoryIncidentStore]:
    store = InMemoryIncidentStore()
    return IncidentGrouper(store, window=timedelta(days=window_days), threshold=0.5), store


def test_grouper_joins_paraphrases_and_separates_others(judge: Judge) -> None:
    grouper, store = _grouper()
    a = grouper.assign(GroupingInput("a", SMOKE_A[0], T0, sig(judge, SMOKE_A)))
    c = grouper.assign(GroupingInput("c", SMOKE_C[0], T0 + timedelta(days=7), sig(judge, SMOKE_C)))
    b = grouper.assign(GroupingInput("b", SMOKE_B[0], T0 + timedelta(days=30), sig(judge, SMOKE_B)))
    p = grouper.assign(GroupingInput("p", PENSION[0], T0 + timedelta(days=31), sig(judge, PENSION)))
    assert a.created and a.incident_id == "inc-a"
    assert (c.incident_id, b.incident_id) == ("inc-a", "inc-a")
    assert not b.created and p.created
    incident = store.incidents["inc-a"]
    assert (incident.size, incident.first_seen, incident.last_seen) == (3, T0, T0 + timedelta(days=30))
    assert incident.title == SMOKE_A[0] and incident.district == "A5"


def test_window_closes_incidents(judge: Judge) -> None:
    grouper, _ = _grouper(window_days=7)
    grouper.assign(GroupingInput("a", SMOKE_A[0], T0, sig(judge, SMOKE_A)))
    late = grouper.assign(GroupingInput("c", SMOKE_C[0], T0 + timedelta(days=8), sig(judge, SMOKE_C)))
    assert late.created


def test_store_writes_are_idempotent(judge: Judge) -> None:
    grouper, store = _grouper()
    s = sig(judge, SMOKE_A)
    grouper.assign(GroupingInput("a", SMOKE_A[0], T0, s))
    grouper.found(GroupingInput("a", SMOKE_A[0], T0, s))  # a redelivered founder
    b = GroupingInput("c", SMOKE_C[0], T0, sig(judge, SMOKE_C))
    grouper.assign(b)
    grouper.assign(b)  # a redelivered member
    assert store.incidents["inc-a"].size == 2


def test_engine_links_resubmission_and_keeps_its_incident(judge: Judge) -> None:
    engine: GroupingEngine = build_engine(judge)
    first = engine.process(GroupingMessage("1", SMOKE_A[0], SMOKE_A[1], T0, citizen="u1"))
    again = engine.process(
        GroupingMessage("2", SMOKE_A[0] + "，急需处理！", SMOKE_A[1], T0 + timedelta(days=11), citizen="u1")
    )
    other = engine.process(
        GroupingMessage("3", SMOKE_C[0], SMOKE_C[1], T0 + timedelta(days=12), citizen="u2")
    )
    assert first.duplicate_of is None
    assert (again.duplicate_of, again.incident_id) == ("1", first.incident_id)
    assert (other.duplicate_of, other.incident_id) == (None, first.incident_id)


def test_group_cli_round_trips_json_lines() -> None:
    rows = [
        {
            "id": "1",
            "title": SMOKE_A[0],
            "content": SMOKE_A[1],
            "submitted_at": "2019-07-21T10:00:00",
            "citizen": "u1",
            "channel": "web",
        },
        {
            "id": "2",
            "title": SMOKE_A[0],
            "content": SMOKE_A[1],
            "submitted_at": "2019-07-22T10:00:00+08:00",
            "citizen": "u1",
        },
        {
            "id": "3",
            "title": SMOKE_C[0],
            "content": SMOKE_C[1],
            "submitted_at": "2019/8/1 9:00:00",
            "district": "A5区",
        },
        {"id": "4", "title": PENSION[0], "content": PENSION[1], "submitted_at": "2019-08-02T09:00:00Z"},
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "judgement_lab.group", "group"],
        input=b"".join(orjson.dumps(r) + b"\n" for r in rows),
        capture_output=True,
        cwd=REPO,
        check=True,
        timeout=60,
    )
    out = {o["id"]: o for o in map(orjson.loads, proc.stdout.splitlines())}
    assert out["1"] == {"id": "1", "incident_id": "inc-1", "duplicate_of": None, "merged": []}
    assert out["2"] == {"id": "2", "incident_id": "inc-1", "duplicate_of": "1", "merged": []}
    assert out["3"]["incident_id"] == "inc-1" and out["3"]["duplicate_of"] is None
    assert out["4"]["incident_id"] == "inc-4"


_LAMP = "朝阳区望京西园三区门口的路灯坏了一个多星期了，晚上出行很不安全，请相关部门尽快处理。"


def test_a_repeat_grouped_before_its_original_is_linked_by_the_original(judge: Judge) -> None:
    engine = build_engine(judge)
    repeat = engine.process(
        GroupingMessage("r", "", "再次反映：" + _LAMP, T0 + timedelta(hours=1), citizen="tel:1")
    )
    assert repeat.duplicate_of is None
    original = engine.process(GroupingMessage("o", "", _LAMP, T0, citizen="wx:1"))
    assert original.repeats == ("r",)
    assert original.incident_id == repeat.incident_id
    # It waits no more: a second copy of the original does not claim it again.
    again = engine.process(GroupingMessage("o2", "", _LAMP, T0 + timedelta(minutes=5), citizen="wx:2"))
    assert again.repeats == ()


def test_a_repeat_linked_at_once_or_late_is_not_claimed_again(judge: Judge) -> None:
    engine = build_engine(judge)
    engine.process(GroupingMessage("r", "", "再次反映：" + _LAMP, T0 + timedelta(hours=1), citizen="tel:1"))
    first = engine.process(GroupingMessage("a", "", _LAMP, T0, citizen="wx:1"))
    assert first.repeats == ("r",)
    engine2 = build_engine(judge)
    engine2.process(GroupingMessage("a", "", _LAMP, T0, citizen="wx:1"))
    engine2.process(GroupingMessage("r", "", "再次反映：" + _LAMP, T0 + timedelta(hours=1), citizen="tel:1"))
    # A forward link was made (one original); a late twin must not take it.
    twin = engine2.process(GroupingMessage("b", "", _LAMP, T0 + timedelta(minutes=1), citizen="wx:3"))
    assert twin.repeats == ()
