"""The urgency catalogue (situations.toml), its phrase matcher and the gateway's screen."""

from __future__ import annotations

import pytest

from app.urgent_lane import UrgentLane
from ingest.normalise import nfkc
from ingest.schemas.records import IntakeRecord
from ingest.topics import INTAKE, INTAKE_URGENT
from ingest.urgency.catalogue import (
    ESCALATORS,
    LEVELS,
    CatalogueError,
    load_catalogue,
    parse_catalogue,
)
from ingest.urgency.phrases import PhraseMatcher
from ingest.urgency.screen import (
    OPENING_CHARS,
    UNSPECIFIED,
    ScreenModel,
    UrgentScreen,
    default_screen,
    opening,
)
from tests.api_support import WECHAT_KEY, bearer, gateway, settings

MINIMAL = """
[[situation]]
id = "gas_leak"
level = "critical"
description = "燃气泄漏"
desk = "96777"
cues = ["煤气…味"]
"""


def test_the_packaged_catalogue_is_valid_and_every_situation_is_complete() -> None:
    catalogue = load_catalogue()
    assert len(catalogue.situations) >= 20
    for s in catalogue.situations:
        assert s.level in LEVELS and s.description and s.desk and s.cues and s.examples, s.id
        assert set(s.escalate_if) <= set(ESCALATORS)
    for group, words in catalogue.context.items():
        assert words, group


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (MINIMAL.replace('"critical"', '"urgent"'), "level must be one of"),
        (MINIMAL + MINIMAL, "duplicate situation ids"),
        (MINIMAL.replace('desk = "96777"', ""), "`desk` is missing"),
        (MINIMAL + 'escalate_if = ["weather"]', "escalate_if takes"),
        ("[[situation]\n", "situations.toml"),
        ("version = 1", "no [[situation]]"),
    ],
)
def test_a_broken_catalogue_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(CatalogueError, match=problem.replace("[", r"\[")):
        parse_catalogue(text)


def test_a_gap_phrase_matches_inside_one_clause_only() -> None:
    matcher = PhraseMatcher([("煤气…味", "gas"), ("着火", "fire")])
    assert [h.value for h in matcher.hits("楼道里煤气的味道特别重")] == ["gas"]
    assert matcher.first("煤气费太贵了,味道") is None
    hit = matcher.first("快来,三楼着火了")
    assert hit is not None and (hit.start, hit.end, hit.phrase) == (5, 7, "着火")
    assert matcher.first("快来,三楼着火了", 0, 6) is None


def test_the_screen_scores_the_opening_and_names_the_situation_by_its_cues() -> None:
    model = ScreenModel({"煤气": 3.0, "气味": 2.0, "特别": 0.5}, intercept=-4.0, threshold=0.5)
    screen = UrgentScreen(parse_catalogue(MINIMAL), model)
    assert screen.situation("", nfkc("单元门口一股煤气的味儿,特别冲!")) is None  # 3 + 0.5 - 4 < 0
    assert screen.situation("", "楼道里煤气气味特别重") == "gas_leak"  # a cue: 煤气…味
    assert screen.situation("楼里一股煤气味", "") == "gas_leak"
    assert screen.situation("", "煤气费,气味") == UNSPECIFIED  # likely urgent, but no cue in one clause
    assert screen.situation("", "小区停车费太贵") is None
    assert screen.situation("", "物" * OPENING_CHARS + "煤气气味") is None  # past the opening
    assert screen.score(opening("", "煤气 气味")) == pytest.approx(1.0)


def test_the_packaged_screen_sends_dangers_to_the_lane_and_lets_ordinary_text_pass() -> None:
    real = default_screen()
    assert real.situation("", "楼道里煤气味特别重，敲门没人应，快来人！") == "gas_leak"
    assert real.situation("", "我和孩子被困在电梯里快半小时了，物业电话打不通") is not None
    assert real.situation("物业乱收停车费", "小区物业未经业主同意收取停车费，每月多收两百元") is None


async def test_the_gateway_sends_a_likely_urgent_submission_on_the_urgent_lane() -> None:
    body = {"channel": "wechat", "citizen": {"wechat_openid": "oUrgent1"}}
    key = bearer(WECHAT_KEY)
    async with gateway(settings()) as (http, broker, _):
        urgent = await http.post(
            "/v1/complaints",
            json={**body, "external_id": "u1", "content": "楼道里煤气味特别重,快来人!"},
            headers=key,
        )
        normal = await http.post(
            "/v1/complaints", json={**body, "external_id": "n1", "content": "小区停车费太贵了"}, headers=key
        )
        assert urgent.status_code == normal.status_code == 202
        [on_urgent] = [IntakeRecord.from_bytes(m.value) for m in broker.records(INTAKE_URGENT.name)]
        [on_normal] = [IntakeRecord.from_bytes(m.value) for m in broker.records(INTAKE.name)]
    assert on_urgent.urgent_screen == "gas_leak"
    assert on_urgent.ticket_id == urgent.json()["ticket_id"]
    assert on_normal.urgent_screen is None


def test_the_lane_budget_is_per_situation_and_larger_for_sure_calls() -> None:
    lane = UrgentLane(rate=0.001, burst=3)
    assert [lane.admits("fire") for _ in range(4)] == [True, True, True, False]
    assert lane.admits("gas_leak")  # another situation has its own budget
    assert sum(lane.admits("fire", sure=True) for _ in range(40)) == 30
    assert not lane.admits(None)
