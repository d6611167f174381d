"""The hand-labelled Beijing address set parses and meets its minimums; its figures are computed right."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from judgement_lab.address_eval import (
    CHANNELS,
    DISTRACTOR_KINDS,
    AddressMessage,
    distractor_merges,
    evaluate_address_set,
    place_function,
    read_address_set,
    read_distractors,
    score_grouping,
)
from workers.judgement.judge import Judge

BEIJING = frozenset(
    {"东城区", "西城区", "朝阳区", "丰台区", "石景山区", "海淀区", "门头沟区", "房山区"}
    | {"通州区", "顺义区", "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区"}
)
T0 = datetime.fromisoformat("2026-11-03T08:00:00+08:00")


@pytest.fixture(scope="module")
def messages() -> list[AddressMessage]:
    return read_address_set()


def test_the_set_meets_its_minimums(messages: list[AddressMessage]) -> None:
    incidents = Counter(m.incident for m in messages if m.incident)
    assert len(messages) >= 300
    assert len(incidents) >= 60
    assert all(2 <= n <= 10 for n in incidents.values())
    assert sum(1 for m in messages if not m.incident) >= 30
    assert set(Counter(m.channel for m in messages)) == set(CHANNELS)
    # Every incident is told in more than one channel style; phone calls have no title.
    for name in incidents:
        assert len({m.channel for m in messages if m.incident == name}) >= 2, name
    assert all(not m.title for m in messages if m.channel == "phone")
    assert any(m.title.startswith("再次反映") for m in messages)
    texts = Counter((m.title, m.text) for m in messages)
    assert any(n > 1 for n in texts.values()), "exact reposts"


def test_the_labels_are_consistent(messages: list[AddressMessage]) -> None:
    spans: dict[str, list[datetime]] = {}
    for m in messages:
        if m.incident:
            spans.setdefault(m.incident, []).append(m.received_at)
        assert m.true_district is None or m.true_district in BEIJING, m.id
        # The adapter's field, where sent, is the message's district.
        assert m.district is None or m.district == m.true_district, m.id
        if m.true_district and m.true_district in m.title + m.text:
            assert m.district_named, m.id
    assert all(max(t) - min(t) <= timedelta(days=3) for t in spans.values())
    known = [m for m in messages if m.true_district]
    area_only = sum(1 for m in known if not m.district_named)
    assert 0.25 <= area_only / len(known) <= 0.45
    with_field = sum(1 for m in messages if m.district)
    assert 0.25 <= with_field / len(messages) <= 0.4


def test_distractor_pairs_are_present(messages: list[AddressMessage]) -> None:
    incidents = {m.incident for m in messages if m.incident}
    pairs = read_distractors()
    kinds = Counter(kind for _, _, kind in pairs)
    assert set(kinds) == set(DISTRACTOR_KINDS)
    assert kinds["same_place_other_problem"] >= 4
    assert kinds["same_problem_other_place"] >= 10
    for a, b, _ in pairs:
        assert a in incidents and b in incidents and a != b
    assert {("芳城园一区12号楼-暖气不热", "芳城园一区5号楼-电梯停运")} <= {(a, b) for a, b, _ in pairs}
    assert {("学院桥-辅路爆管", "四惠桥-辅路爆管")} <= {(a, b) for a, b, _ in pairs}


def _msg(id_: str, incident: str | None, minutes: int = 0) -> AddressMessage:
    return AddressMessage(
        id_, "wechat", "", "text", T0 + timedelta(minutes=minutes), None, incident, None, False, None, ""
    )


def test_pairwise_figures_on_a_hand_made_example() -> None:
    # Gold: {a, b, c} and {d, e}; f belongs to no incident.
    msgs = [_msg("a", "X"), _msg("b", "X"), _msg("c", "X"), _msg("d", "Y"), _msg("e", "Y"), _msg("f", None)]
    # Predicted: {a, b, c, f}, {d}, {e}. Predicted pairs ab ac af bc bf cf (6), of which ab ac bc are
    # gold (3); the gold pair de is missed. P = 3/6, R = 3/4, F1 = 2PR/(P+R) = 0.6.
    predicted = {"a": "1", "b": "1", "c": "1", "d": "2", "e": "3", "f": "1"}
    s = score_grouping(msgs, predicted)
    assert (s.precision, s.recall, s.f1) == (0.5, 0.75, 0.6)
    assert (s.true_pairs, s.predicted_pairs) == (4, 6)
    # Two singletons in one predicted incident are a false pair, not a true one.
    s = score_grouping([_msg("f", None), _msg("g", None)], {"f": "1", "g": "1"})
    assert (s.precision, s.true_pairs, s.predicted_pairs) == (0.0, 0, 1)
    # Everything right.
    perfect = {"a": "1", "b": "1", "c": "1", "d": "2", "e": "2", "f": "3"}
    assert score_grouping(msgs, perfect).f1 == 1.0
    merges = distractor_merges(msgs, predicted, [("X", "Y", "same_place_other_problem")])
    assert merges["same_place_other_problem"]["merged"] == 0
    merges = distractor_merges(msgs, {**predicted, "e": "1"}, [("X", "Y", "same_place_other_problem")])
    assert merges["same_place_other_problem"]["merged"] == 1


def test_a_malformed_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    good = (
        '{"id": "x1", "channel": "web", "title": "t", "text": "海淀区学院路", "received_at": '
        '"2026-11-03T08:00:00+08:00", "district": null, "incident": null, "true_district": "海淀区", '
        '"district_named": true}'
    )
    path.write_text(good + "\n" + good.replace('"web"', '"fax"').replace("x1", "x2") + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"set\.jsonl:2: channel 'fax'"):
        read_address_set(path)


def test_the_evaluation_runs_on_the_set() -> None:
    report = evaluate_address_set(Judge.load(), [None])
    g = report["grouping"][0]
    assert report["messages"] >= 300 and report["incidents"] >= 60
    assert 0.0 <= g["precision"] <= 1.0 and 0.0 <= g["recall"] <= 1.0
    assert g["gold_pairs"] > 0
    for key in ("named", "area_only", "with_field"):
        assert report["district"][key]["n"] > 0


def test_without_the_address_module_the_district_comes_from_places(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> object:
        raise ModuleNotFoundError(name)

    monkeypatch.setattr("judgement_lab.address_eval.importlib.import_module", missing)
    name, find = place_function()
    assert name == "workers.judgement.places.extract_place"
    assert find("", "A5区劳动东路魅力之城小区油烟扰民", None) == "A5"
    assert find("", "学院路红绿灯坏了", "海淀区") == "海淀区"


def test_the_development_set_meets_its_brief() -> None:
    from judgement_lab.address_eval import DEV_DISTRACTORS, DEV_SET

    dev = read_address_set(DEV_SET)
    incidents = Counter(m.incident for m in dev if m.incident)
    assert len(dev) >= 200 and len(incidents) >= 45
    assert all(2 <= n <= 6 for n in incidents.values())
    assert set(Counter(m.channel for m in dev)) == set(CHANNELS)
    assert all(not m.title for m in dev if m.channel == "phone")
    assert all(m.district is None or m.district == m.true_district for m in dev)
    # No site of the evaluation set's incidents is reused (the sets were written apart).
    eval_names = {m.incident for m in read_address_set() if m.incident}
    assert not eval_names & set(incidents)
    for a, b, kind in read_distractors(DEV_DISTRACTORS):
        assert a in incidents and b in incidents and kind in DISTRACTOR_KINDS
