"""Routing table, place extraction and resubmission text matching (urgency: test_urgency*.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from workers.judgement.places import extract_place, normalise_district, same_place
from workers.judgement.resubmission import (
    InMemoryResubmissionStore,
    PriorMessage,
    ResubmissionDetector,
    content_key,
    is_resubmission,
    says_repeat,
)
from workers.judgement.routing import RoutingTable


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


def test_a_repeat_marker_is_recognised_only_at_the_start() -> None:
    assert says_repeat("再次反映：小区路灯坏了")
    assert says_repeat("喂您好，那个，我上周打电话反映过的问题到现在没人管，小区路灯坏了")
    assert says_repeat("上次反映的问题还没解决，小区路灯坏了")
    assert not says_repeat("小区路灯坏了，我已经再次反映")
    assert not says_repeat("昨天停电了，现在还没来")


def test_content_key_ignores_the_marker_punctuation_and_a_trailing_address() -> None:
    text = "您好，朝阳区阳光家园门口的路灯坏了三天了，晚上出行很不安全。请尽快处理"
    key = content_key(text)
    assert key is not None
    assert content_key("再次反映：" + text) == key
    assert content_key(text.replace("，", "").replace("。", "") + "阳光家园3号楼") == key
    assert content_key("您好，朝阳区阳光家园门口的垃圾桶满了三天了，气味很大。请尽快处理") != key
    assert content_key("再次反映：路灯坏了") is None  # too few words to tell one message


def test_detector_links_a_repeat_from_another_channel_by_content_key() -> None:
    det = ResubmissionDetector(InMemoryResubmissionStore(), window=timedelta(days=30))
    t0 = datetime(2026, 12, 1, 9)
    text = "您好，海淀区学院路甲5号院门口的井盖松了，车一压就响，晚上吵得睡不着"
    det.remember("wx:o1", PriorMessage("m1", text, t0, "inc-m1"), text)
    again = "再次反映：" + text
    found = det.find_original("tel:138", again, t0 + timedelta(hours=3), again)
    assert found is not None and found.id == "m1"
    # Without a marker another citizen's same words are not a repeat; past the window nothing links.
    assert det.find_original("tel:139", text, t0 + timedelta(hours=3), text) is None
    assert det.find_original("tel:138", again, t0 + timedelta(days=31), again) is None


def test_a_repeat_matching_several_citizens_originals_links_only_to_its_own() -> None:
    det = ResubmissionDetector(InMemoryResubmissionStore(), window=timedelta(days=1))
    t0 = datetime(2026, 12, 1, 9)
    text = "您好，朝阳区阳光家园门口的路灯坏了三天了，晚上出行很不安全。请尽快处理"
    det.remember("tel:1", PriorMessage("m1", text, t0, "inc-1", "tel:1"), text)
    det.remember("wx:2", PriorMessage("m2", text, t0 + timedelta(hours=1), "inc-1", "wx:2"), text)
    again = "再次反映：" + text
    # Two citizens wrote the same words: a third cannot be told apart, the second's own is chosen.
    assert det.find_original("tel:3", again, t0 + timedelta(hours=2), again) is None
    found = det.find_original("wx:2", again + "！", t0 + timedelta(hours=2), again + "！")
    assert found is not None and found.id == "m2"
    # The same first words, another problem: the key narrows, the words decide.
    other = "再次反映：您好，朝阳区阳光家园门口的路灯坏了三天了，今天又有人把垃圾堆在灯下面，臭气熏天没人清理"
    assert det.find_original("tel:4", other, t0 + timedelta(hours=2), other) is None
