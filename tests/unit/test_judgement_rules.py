"""Urgency rules, routing table, place extraction and resubmission text matching."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from workers.judgement.places import extract_place, normalise_district, same_place
from workers.judgement.resubmission import (
    InMemoryResubmissionStore,
    PriorMessage,
    ResubmissionDetector,
    is_resubmission,
)
from workers.judgement.routing import RoutingTable
from workers.judgement.urgency import CRITICAL, HIGH, NORMAL, assess


@pytest.mark.parametrize(
    ("title", "content", "reason"),
    [
        ("小区燃气管道泄漏", "楼道里闻到很浓的煤气味，请马上派人处理", "gas leak"),
        ("紧急！楼下着火了", "浓烟已经上到五楼", "fire"),
        ("路边电线掉落", "一根电线掉在人行道上还带电，很危险", "fallen or live wire"),
        ("电梯困人", "有人被困在3栋电梯里半小时了，物业电话打不通", "people trapped"),
        ("救护车进不来", "小区消防通道被私家车堵死，救护车进不来，老人需要急救", "medical emergency blocked"),
    ],
)
def test_dangers_now_are_critical(title: str, content: str, reason: str) -> None:
    u = assess(title, content)
    assert u.level == CRITICAL
    assert u.reason is not None and u.reason.startswith(reason)


def test_a_hazard_or_a_past_event_is_high_not_critical() -> None:
    assert assess("小区存在火灾隐患", "电动车在楼道充电").level == HIGH
    assert assess("物业管理问题", "去年小区曾经发生过一次火灾，至今没有整改").level == HIGH
    for past in (
        "上个月燃气泄漏过一次，现在想问问维修进度",
        "前几天楼道着火了，物业到现在没清理",
        "楼里着火过两次，消防通道一直被占",
        "燃气泄漏已经处理好了，但是赔偿没有落实",
        "上个星期店内发生过一次起火事件，商场内未发现消防设施",
        "2018年10月弱电井起火，信号设备至今没有修复",
        "电梯经常坏，有时被困电梯",
        "开发商将消防通道当车位卖，出了火灾怎么办？",
    ):
        assert assess("", past).level == HIGH, past
    for now in ("小区燃气泄漏了，味道很大", "楼下着火了，有人被困", "家里漏气过了一夜还很浓，请马上来"):
        assert assess("", now).level == CRITICAL, now


def test_ordinary_complaints_are_normal() -> None:
    u = assess("物业乱收停车费", "小区物业未经业主同意收取停车费")
    assert (u.level, u.reason) == (NORMAL, None)


def test_unpaid_wages_are_high() -> None:
    assert assess("讨要工资", "老板拖欠我们农民工工资半年了").level == HIGH


def test_routing_uses_district_then_falls_back() -> None:
    table = RoutingTable.load()
    assert table.department("教育文体", "A3区") == "A3区教育局"
    assert table.department("教育文体", None) == "市教育局"
    assert table.department("没有的类", "A3区") == "A3区人民政府办公室"
    assert table.department(None, None) == "市12345热线派单中心"


def test_routing_covers_every_first_level_category() -> None:
    table = RoutingTable.load()
    categories = {c for c, _ in table.rows} - {"*"}
    assert len(categories) == 15


def test_place_extraction_finds_district_city_and_named_place() -> None:
    p = extract_place("A5区劳动东路魅力之城小区一楼的夜宵摊严重污染附近的空气", "")
    assert (p.city, p.district, p.names) == ("A", "A5", ("魅力之城小区",))
    school = extract_place("西地省经济学院体育学院变相强制实习", "")
    assert "经济学院" in school.names
    assert same_place("经济学院", "涉外经济学院")
    assert not same_place("新城小区", "小区")


def test_district_field_wins_and_is_normalised() -> None:
    assert normalise_district("A5区") == ("A", "A5")
    assert normalise_district("A市") == ("A", None)
    assert normalise_district("朝阳区") == (None, "朝阳区")
    assert extract_place("油烟扰民", "", district="K3县").district == "K3"


def test_resubmission_text_match() -> None:
    body = "\n局长：你好，A5区劳动东路魅力之城小区的一楼，开了几家夜宵快餐店"
    a = "A5区劳动东路魅力之城小区一楼的夜宵摊严重污染附近的空气" + body
    b = "A5区劳动东路魅力之城小区一楼的夜宵摊严重污染附近的空气，急需处理！" + body
    c = "魅力之城小区临街门面油烟直排扰民\n魅力之城小区楼下烧烤摊、快餐店无证经营，长期油烟烧烤熏死人"
    assert is_resubmission(a, b)
    assert not is_resubmission(a, c)


def test_detector_links_to_the_first_ticket_of_the_same_citizen_within_the_window() -> None:
    det = ResubmissionDetector(InMemoryResubmissionStore(), window=timedelta(days=30))
    t0 = datetime(2019, 7, 21, 10)
    text = "小区门口的路灯坏了一个月了，晚上一片漆黑，请尽快维修"
    det.remember("u1", PriorMessage("m1", text, t0, "inc-m1"))
    found = det.find_original("u1", text + "！", t0 + timedelta(days=3))
    assert found is not None and found.id == "m1"
    assert det.find_original("u2", text, t0 + timedelta(days=3)) is None
    assert det.find_original("u1", text, t0 + timedelta(days=31)) is None
    assert det.find_original(None, text, t0 + timedelta(days=1)) is None
