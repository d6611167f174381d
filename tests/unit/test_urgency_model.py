"""The committed urgency model: built from the current catalogue, and right on plain cases it never saw.

The figures on the frozen test split come from `make evaluate` (docs/judgement.md); these cases are a floor
that a rebuilt model must not fall through.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.urgency.catalogue import CRITICAL, HIGH, NORMAL, load_catalogue
from workers.events import goes_to_urgent_topic, processed_event, urgency_change
from workers.judgement.urgency.features import indoor_temperatures
from workers.judgement.urgency.model import UrgencyModel
from workers.ticket import TicketRow


@pytest.fixture(scope="module")
def model() -> UrgencyModel:
    return UrgencyModel.load()


def test_the_committed_model_was_built_from_the_current_catalogue(model: UrgencyModel) -> None:
    assert model.catalogue == load_catalogue(), "situations.toml changed: run `make urgency-model`"
    assert model.classes[1:] == list(load_catalogue().ids)


# Written for this test, in the three channel styles; not in the corpus.
DANGERS_NOW = [
    ("", "喂您好 那个我们楼道里一股煤气味儿 冲得很 呃 三楼那家好像没人", "gas_leak"),
    ("紧急求助", "南湖渠西里6号楼一层的饭馆着火了，黑烟往楼上冒，楼上还有老人没下来", "fire"),
    ("", "小区门口的电线断了掉在地上 还在冒火花 孩子们马上放学了", "live_wire"),
    ("", "我们三个人卡在电梯里出不来了，按警铃没人应，快来人！", None),
    ("", "有个男的坐在12号楼楼顶边上说要跳下去，好多人在下面看", "suicide_risk"),
    ("孩子走丢了", "我儿子五岁，在西单大悦城门口走丢了，穿蓝色羽绒服，求帮忙找", "missing_person"),
]
NOT_NOW = [
    ("物业收费问题", "小区物业乱收停车费，一个月涨了两百块"),
    ("建议增设灭火器", "建议在我们小区每个单元门口增设灭火器，加强消防安全宣传"),
    ("", "请问燃气费怎么在网上交？上个月的账单好像多扣了钱"),
    ("关于去年火灾赔偿", "去年冬天楼里着过一次火，我家被熏黑了，到现在物业还没赔偿"),
    ("", "停水通知贴得太晚了，昨天晚上才看到，今天就停水，能不能提前通知"),
    # Everyday complaints that sound alarming: nobody is in danger now.
    ("", "小区路灯坏了一个礼拜了，晚上黑乎乎的，麻烦派人修一下"),
    ("", "楼下井盖松了，车一压就哐哐响，半夜吵得睡不着"),
    ("", "暖气不太热，屋里18度，能不能让供热公司来调一调"),
]


@pytest.mark.parametrize(("title", "content", "situation"), DANGERS_NOW)
def test_dangers_happening_now_are_urgent_with_their_situation(
    model: UrgencyModel, title: str, content: str, situation: str | None
) -> None:
    u = model.assess(title, content)
    assert u.level in (CRITICAL, HIGH), (u, content)
    if situation is not None:
        assert u.situation == situation, u
    assert u.reason is not None and u.reason.startswith(str(u.situation)) and "“" in u.reason


@pytest.mark.parametrize(("title", "content"), NOT_NOW)
def test_suggestions_questions_past_events_and_notices_are_normal(
    model: UrgencyModel, title: str, content: str
) -> None:
    u = model.assess(title, content)
    assert (u.level, u.situation, u.reason) == (NORMAL, None, None), u


def test_a_high_situation_with_someone_vulnerable_at_risk_is_critical(model: UrgencyModel) -> None:
    u = model.assess("", "暖气停了三天了，家里有个瘫痪在床的八十岁老人，屋里只有8度，供热公司电话打不通")
    assert u.level == CRITICAL, u
    assert u.reason is not None and "at risk" in u.reason


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("暖气停了，屋里只有8度", {"cold"}),
        ("室温才十四五度，孩子手脚冰凉", {"cold"}),
        ("外面零下十二度，屋里11度", {"cold"}),
        ("暖气不热，家里十八九度", {"mild"}),
        ("现在屋里24度了，谢谢师傅", {"mild"}),
        ("外面零下10度，路上结冰了", set()),
        ("今天气温3度", set()),
        ("宝宝烧到39度8", set()),
        ("水烧到100度才开", set()),
    ],
)
def test_the_indoor_temperature_a_message_gives_is_read_as_cold_or_mild(text: str, found: set[str]) -> None:
    assert indoor_temperatures(text) == found


def _row(urgency: str, screen: str | None) -> TicketRow:
    now = datetime.now(UTC)
    return TicketRow(
        ticket_id="JS1", received_at=now, processed_at=now, status="processed", channel="web",
        external_id=None, title="", content="", citizen_key=None, district=None, address=None,
        category=None, category_confidence=None, needs_review=False, review_reasons=[], urgency=urgency,
        urgency_reason=None, department=None, duplicate_of=None, incident_id=None, submission={},
        source_partition=0, source_offset=0, urgent_screen=screen,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("urgency", "screen", "change", "to_urgent_topic"),
    [
        ("critical", "gas_leak", "confirmed", True),
        ("normal", "gas_leak", "lowered", True),
        ("critical", "open_pit", "raised", True),
        ("high", None, "raised", True),
        ("normal", None, None, False),
    ],
)
def test_the_event_says_how_the_judgement_compares_with_the_screen(
    urgency: str, screen: str | None, change: str | None, to_urgent_topic: bool
) -> None:
    row = _row(urgency, screen)
    assert urgency_change(row) == change
    assert goes_to_urgent_topic(row) is to_urgent_topic
    event = processed_event(row)
    assert (event.urgent_screen, event.urgency_change) == (screen, change)


def test_one_message_and_a_batch_are_judged_alike(model: UrgencyModel) -> None:
    messages = [(t, c) for t, c, _ in DANGERS_NOW] + NOT_NOW
    batch = model.assess_many(messages)
    assert len(messages) >= 8  # the batch takes the sparse path, one message the numpy one
    for (title, content), together in zip(messages, batch, strict=True):
        alone = model.assess(title, content)
        assert (alone.level, alone.situation, alone.reason) == (
            together.level,
            together.situation,
            together.reason,
        )
        assert abs(alone.score - together.score) < 1e-4
