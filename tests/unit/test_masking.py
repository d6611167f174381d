"""The one masking rule: phone, ID-card and bank-card numbers inside texts; nothing else."""

import pytest

from ingest.masking import mask_fields, mask_personal
from ingest.reports.rollups import incident_summary


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("请回电13800138000谢谢", "请回电138****8000谢谢"),
        ("电话 +86 138-0013-8000", "电话 +86 138-****-8000"),
        ("座机010-62345678", "座机010-****5678"),
        ("身份证110105199003071234号", "身份证1101**********1234号"),
        ("身份证11010519900307123x", "身份证1101**********123x"),
        ("卡号6222021234567890", "卡号6222********7890"),
        ("卡号6222 0212 3456 7890 123", "卡号6222 **** **** ***0 123"),
    ],
)
def test_personal_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_personal(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "路灯坏了3天",
        "12号楼1单元302室",
        "2024年5月3日下午3点",
        "价格1380元",
        "编号AB13800138000",  # inside a longer identifier
        "订单号202312011234567890123456",  # longer than any card
        "打12345热线",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_personal(text) == text


def test_fields_are_masked_in_place_and_none_stays_none() -> None:
    record = {"title": "回电13800138000", "content": None, "district": "13800138000"}
    mask_fields(record)
    assert record == {"title": "回电138****8000", "content": None, "district": "13800138000"}


def test_an_incidents_title_in_the_reports_is_masked() -> None:
    # An incident's title is its first ticket's: the brief, the monthly candidates and the alerts show it.
    row = {"incident_id": "inc-1", "title": "燃气泄漏请回电13800138000", "size": 3}
    assert incident_summary(row) == {**row, "title": "燃气泄漏请回电138****8000"}
    assert incident_summary({"incident_id": "inc-2", "title": None})["title"] is None
