"""The incident rule of issue 16: one problem at one site (site, problem kind, district, paraphrase)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from workers.judgement.grouping import GroupingMessage, build_engine
from workers.judgement.judge import Judge
from workers.judgement.problems import problem_kinds, problems_conflict
from workers.judgement.signature import (
    CONFLICT,
    NEUTRAL,
    SAME,
    SLIP,
    IssueSignature,
    match_score,
    relate,
    site_relation,
)

T0 = datetime.fromisoformat("2026-12-07T08:00:00+08:00")


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge.load()


def _group(judge: Judge, messages: list[tuple[str, str, str]]) -> list[str]:
    """(channel, title, text) in order, an hour apart, each by its own citizen: the incident of each."""
    engine = build_engine(judge)
    out = []
    for n, (channel, title, text) in enumerate(messages):
        msg = GroupingMessage(f"m{n}", title, text, T0 + timedelta(hours=n), channel, None, f"c{n}")
        out.append(engine.process(msg).incident_id)
    return out


def test_four_reports_of_a_burst_main_at_a_bridge_from_three_channels_are_one_incident(judge: Judge) -> None:
    ids = _group(
        judge,
        [
            ("wechat", "", "学院桥底下辅路水管爆了，水往外涌，路上全是水"),
            (
                "web",
                "学院桥辅路自来水管爆裂",
                "海淀区学院桥南侧辅路今早发现自来水管道爆裂，大量积水，请尽快抢修。",
            ),
            ("phone", "", "喂您好，那个学园桥这边，呃，辅路上水管爆了，那个一直冒水，你们快派人来"),
            ("wechat", "", "学院路辅路靠近学院桥那块还在冒水，都结冰了"),
            # The same problem at another bridge, and another problem at this one: two more incidents.
            ("web", "四惠桥辅路水管爆裂", "朝阳区四惠桥东侧辅路自来水管道爆裂，水漫路面，请尽快抢修。"),
            ("wechat", "", "学院桥路口的红绿灯不亮了，车都乱走"),
        ],
    )
    assert len(set(ids[:4])) == 1
    assert len(set(ids)) == 3


def test_a_broken_lift_at_one_part_of_an_estate_stays_apart_from_heating_at_the_other(judge: Judge) -> None:
    ids = _group(
        judge,
        [
            (
                "web",
                "芳城园一区暖气不热",
                "丰台区方庄芳城园一区12号楼暖气不热，室温只有15度，请供热单位处理。",
            ),
            ("wechat", "", "芳城园一区12号楼暖气还是凉的，冻得不行"),
            ("wechat", "", "芳城园二区3号楼电梯坏了，还困了人"),
            ("phone", "", "喂您好，我是芳城园二区3号楼的，呃，电梯又停了，那个老人下不了楼"),
        ],
    )
    assert ids[0] == ids[1]
    assert ids[2] == ids[3]
    assert ids[0] != ids[2]


def test_a_phone_transcript_joins_the_web_post_about_its_problem(judge: Judge) -> None:
    ids = _group(
        judge,
        [
            (
                "web",
                "八角北里11号楼暖气不热",
                "石景山区八角北里11号楼今年供暖温度偏低，室温不足16度，请供热单位排查。",
            ),
            ("phone", "", "喂您好，那个，我是八角北里11号楼的，呃，暖气不热，那个家里冷，老人受不了"),
        ],
    )
    assert ids[0] == ids[1]


def _site(name: str, kind: str, building: str | None = None) -> IssueSignature:
    return IssueSignature(terms={}, site=name, site_kind=kind, building=building)


def test_site_relations() -> None:
    assert site_relation(_site("芳城园一区", "estate"), _site("芳城园二区", "estate")) == CONFLICT
    assert site_relation(_site("芳城园", "estate"), _site("芳城园一区", "estate")) == SAME
    assert site_relation(_site("呼家楼站A口", "metro"), _site("呼家楼站D口", "metro")) == CONFLICT
    assert site_relation(_site("呼家搂站", "metro"), _site("呼家楼站A口", "metro")) == SLIP
    assert site_relation(_site("学院桥", "bridge"), _site("学院路", "road")) == SAME
    assert site_relation(_site("学院桥", "bridge"), _site("四惠桥", "bridge")) == CONFLICT
    assert (
        site_relation(_site("安华桥", "bridge"), _site("广渠路与西大望路交叉口", "intersection")) == CONFLICT
    )
    assert site_relation(_site("西大望路", "road"), _site("广渠路与西大望路交叉口", "intersection")) == SAME
    assert site_relation(_site("积水潭医院", "hospital"), _site("新街口东街", "road")) == NEUTRAL


def test_buildings_part_only_problems_of_one_building() -> None:
    lift = IssueSignature(terms={}, site="劲松八区", site_kind="estate", building="3号楼", problems=("lift",))
    other_lift = IssueSignature(
        terms={}, site="劲松八区", site_kind="estate", building="7号楼", problems=("lift",)
    )
    heat = IssueSignature(
        terms={}, site="劲松八区", site_kind="estate", building="3号楼", problems=("heating",)
    )
    other_heat = IssueSignature(
        terms={}, site="劲松八区", site_kind="estate", building="7号楼", problems=("heating",)
    )
    assert relate(lift, other_lift)[0]  # two lifts
    assert relate(lift, heat)[0]  # two problems
    assert relate(heat, other_heat) == (False, True, True)  # the estate's heating, from two buildings


def test_districts_and_problem_kinds() -> None:
    assert problem_kinds("暖气片冰凉，屋里才14度，暖气不热") == ("heating",)
    assert set(problem_kinds("小区门口水管爆了，家里也停水了")) == {"water"}
    assert problems_conflict(frozenset({"heating"}), frozenset({"lift"}))
    assert not problems_conflict(frozenset({"heating"}), frozenset())
    named = IssueSignature(terms={"停水": 1.0}, area="海淀区", problems=("water",))
    other = IssueSignature(terms={"停水": 1.0}, area="朝阳区", problems=("water",))
    implied = IssueSignature(terms={"停水": 1.0}, area="朝阳区", area_implied=True, problems=("water",))
    assert match_score(named, other) == 0.0
    assert match_score(named, implied) == 0.0  # no site says they are one place
    assert match_score(other, implied) > 0.5


def test_the_new_fields_round_trip_through_json(judge: Judge) -> None:
    sig = judge.signature("", "喂您好，那个呼家楼地铁站A口的扶梯，呃，停了好几天了", "朝阳区")
    assert (sig.site, sig.site_kind, sig.building, sig.area, sig.problems) == (
        "呼家楼站A口",
        "metro",
        "A口",
        "朝阳区",
        ("lift",),
    )
    back = IssueSignature.from_json(sig.to_json())
    assert (back.site, back.site_kind, back.building, back.area, back.area_implied, back.street) == (
        sig.site,
        sig.site_kind,
        sig.building,
        sig.area,
        sig.area_implied,
        sig.street,
    )
    assert back.problems == sig.problems
    # A row written before these fields existed reads back neutral.
    old = {
        k: v for k, v in sig.to_json().items() if k in ("v", "terms", "topic", "city", "district", "places")
    }
    assert IssueSignature.from_json(old).site is None


def test_a_report_naming_only_the_road_joins_the_incident_whose_members_named_the_road(judge: Judge) -> None:
    ids = _group(
        judge,
        [
            ("web", "天通小区停水", "我是安立路天通小区的居民，小区门口水管爆了，全楼都没水用。"),
            ("wechat", "", "我是安立路附近的居民，家里突然停水，做饭洗漱都没法弄，请尽快抢修。"),
            # Another estate on the same road, with the same problem: another incident.
            ("web", "北苑家园停水", "我是安立路北苑家园的居民，家里突然停水，全楼都没水用。"),
        ],
    )
    assert ids[1] == ids[0]
    assert ids[2] != ids[0]


def test_the_road_an_estate_is_named_on_is_one_of_the_messages_places(judge: Judge) -> None:
    on_road = judge.signature("", "我是安立路天通小区的居民，家里停水了")
    assert (on_road.site, "安立路" in on_road.places) == ("天通", True)
    road_only = judge.signature("", "我是安立路附近的居民，家里停水了")
    assert road_only.site_kind == "road" and "安立路" in road_only.places
    assert "安立路" not in judge.signature("", "我是天通小区的居民，家里停水了").places
