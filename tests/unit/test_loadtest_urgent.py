"""The urgent lane in the simulator: labelled corpus messages in the plan, the report's `urgent` section."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import TypeAdapter

from ingest.schemas.submission import Submission
from loadtest import repeats
from loadtest.__main__ import summary
from loadtest.bodies import Messages
from loadtest.config import build_parser, config_from_args
from loadtest.e2e import EventsWatch, Seen
from loadtest.html import render
from loadtest.plan import CHANNELS, Kind, Plan, PlanSpec, build_plan
from loadtest.report import build, e2e_section, problems
from loadtest.results import Recorder, Reply
from loadtest.scheduler import Bounds, LoopState, run_open_loop
from loadtest.stats import Latency
from loadtest.texts import Labelled, UrgencyCorpus
from loadtest.urgent import Outcome, Regular, observe, regular, section

FIXTURE = Path(__file__).parent / "fixtures" / "urgency"
SUBMISSION = TypeAdapter(Submission)


@pytest.fixture(scope="module")
def corpus() -> UrgencyCorpus:
    return UrgencyCorpus.load(FIXTURE)


def _surge(corpus: UrgencyCorpus | None, **spec: Any) -> Plan:
    return build_plan(PlanSpec(profile="surge-day", scale=0.05, compression=1440, **spec), corpus)


def test_the_corpus_keeps_urgent_messages_and_hard_negatives_and_skips_unusable_lines(
    corpus: UrgencyCorpus, tmp_path: Path
) -> None:
    assert corpus.files == ("test_d.jsonl", "train_a.jsonl")
    assert [m.id for m in corpus.urgent] == ["t-d-001", "t-a-001", "t-a-002", "t-a-003", "t-a-004"]
    assert [m.id for m in corpus.hard_negatives] == ["t-d-002", "t-a-005", "t-a-006"]
    assert corpus.skipped == 2  # the inconsistent label and the line cut off mid-way
    assert all(m.urgent and m.situation for m in corpus.urgent)
    assert all(m.level == "normal" and m.situation is None for m in corpus.hard_negatives)
    assert not UrgencyCorpus.load(tmp_path)  # no files yet: nothing to mix in
    assert not UrgencyCorpus.load(tmp_path / "absent")


def test_the_plan_mixes_in_the_urgent_share_over_the_day_and_inside_the_burst(corpus: UrgencyCorpus) -> None:
    plan = _surge(corpus)
    assert plan.burst_window is not None
    inside = (plan.msg_at >= plan.burst_window[0]) & (plan.msg_at < plan.burst_window[1])
    n_in = int(inside.sum())
    expected = max(1, round(0.005 * n_in)) + round(0.005 * (plan.messages - n_in))
    labelled = plan.labelled_messages()
    urgent = [m for m in labelled.tolist() if plan.labels[int(plan.msg_label[m])].urgent]
    assert len(urgent) == expected == len(labelled) - len(urgent)  # as many hard negatives
    assert abs(len(urgent) / plan.messages - 0.005) < 0.0005
    # Everyday complaints only (the burst's reports stay reports of its incident), none repeated by a
    # resubmission, spread over the day and some inside the burst's half hour.
    assert set(plan.msg_kind[labelled].tolist()) == {Kind.ORIGINAL}
    assert not set(labelled.tolist()) & set(plan.msg_ref[plan.msg_ref >= 0].tolist())
    hours = {int(at * plan.spec.compression // 3600) for at in plan.msg_at[urgent]}
    assert len(hours) >= 18
    assert sum(plan.in_burst_window(float(plan.msg_at[m])) for m in urgent) >= 1
    truth = plan.labelled_counts()
    assert truth["critical"] + truth["high"] == len(urgent) and truth["hard_negative"] == len(urgent)
    assert truth["in_burst_window"] == int(inside[labelled].sum()) >= 2


def test_a_small_run_still_has_labelled_messages_inside_the_burst(corpus: UrgencyCorpus) -> None:
    plan = build_plan(PlanSpec(profile="surge-day", scale=0.001, compression=1440), corpus)
    assert plan.labelled_counts()["in_burst_window"] == 2  # one urgent, one hard negative


def test_labelled_messages_post_the_corpus_words_on_the_corpus_channel(corpus: UrgencyCorpus) -> None:
    plan = _surge(corpus)
    messages = Messages(plan, "r")
    for m in plan.labelled_messages().tolist():
        label = plan.label_of(m)
        assert label is not None
        body = orjson.loads(messages.body(m))
        SUBMISSION.validate_python(body)
        assert messages.text(m).content == label.text
        if label.channel in CHANNELS:
            assert body["channel"] == label.channel
        if body["channel"] == "phone":
            said = "".join(s["text"] for s in body["call"]["transcript"] if s["speaker"] == "citizen")
            assert said.replace("，", "") == label.text.replace("，", "").replace("。", "")
        else:
            assert label.text in (body.get("content"), body.get("recognition"))


def test_labelling_leaves_the_rest_of_the_plan_as_it_was(corpus: UrgencyCorpus) -> None:
    bare, labelled = _surge(None), _surge(corpus)
    for name in ("at", "kind", "msg", "msg_at", "msg_kind", "msg_ref"):
        assert np.array_equal(getattr(bare, name), getattr(labelled, name))
    changed = np.flatnonzero(bare.msg_channel != labelled.msg_channel)
    assert set(changed.tolist()) <= set(labelled.labelled_messages().tolist())
    assert not len(bare.labelled_messages())
    assert bare.notes == ["no urgency corpus (corpus/urgency/*.jsonl): no labelled urgent messages"]
    assert not len(_surge(corpus, urgent_share=0.0).labelled_messages())


def test_every_corpus_line_is_used_once_before_any_is_used_twice(corpus: UrgencyCorpus) -> None:
    plan = build_plan(PlanSpec(messages=20_000, urgent_share=0.01, seed=3), corpus)
    uses = Counter(plan.msg_label[plan.labelled_messages()].tolist())
    urgent = [uses[i] for i in range(len(corpus.urgent))]
    negatives = [uses[len(corpus.urgent) + i] for i in range(len(corpus.hard_negatives))]
    assert sum(urgent) == sum(negatives) == 200
    assert max(urgent) - min(urgent) <= 1 and max(negatives) - min(negatives) <= 1
    again = build_plan(PlanSpec(messages=20_000, urgent_share=0.01, seed=3), corpus)
    assert np.array_equal(plan.msg_label, again.msg_label)  # the same seed, the same labelled messages


def _label(level: str, n: int = 0) -> Labelled:
    kind = "hard_negative" if level == "normal" else "urgent"
    return Labelled(f"{level}-{n}", "wechat", "", "…", level, None if level == "normal" else "fire", kind)


def _outcome(level: str, got: str | None, on_urgent: float | None, *, n: int = 0, **kw: Any) -> Outcome:
    """A labelled message meant for t=100 s, sent at 101 s, with the urgency and urgent-topic time given."""
    defaults: dict[str, Any] = {
        "sent": 101.0,
        "ticket": f"T{level}{n}",
        "urgency": got,
        "on_urgent": on_urgent,
    }
    return Outcome(_label(level, n), 100.0, False, **(defaults | kw))


def test_the_urgent_section_arithmetic() -> None:
    outcomes = [
        # Four critical: three got critical, one only high; all on the urgent topic, 1 to 4 s after intended.
        *(_outcome("critical", "critical", 100.0 + s, n=s) for s in (1, 2, 3)),
        _outcome("critical", "high", 104.0, n=4),
        # Four high: two flagged, one missed (normal, never on the topic), one without any event yet.
        _outcome("high", "high", 110.0, n=1),
        _outcome("high", "critical", 120.0, n=2),
        _outcome("high", "normal", None, n=3),
        _outcome("high", None, None, n=4),
        # One urgent message that never got a 202: left out of count, listed in not_accepted.
        _outcome("critical", None, None, n=9, sent=None, ticket=None),
        # Five hard negatives: one false alarm (on the topic too, but not timed: not urgent).
        _outcome("normal", "high", 102.0, n=1),
        *(_outcome("normal", "normal", None, n=k) for k in (2, 3, 4, 5)),
    ]
    lane = section(
        outcomes, Regular(judged=1000, flagged=7, burst_judged=100, burst_flagged=5), watched_urgent=True
    )
    assert lane["count"] == 8 and lane["hard_negatives"] == 5
    assert lane["not_accepted"] == 1 and lane["urgency_unknown"] == 1
    assert lane["recall"] == round(6 / 7, 4)  # of the 7 urgent with a known urgency
    assert lane["critical_recall"] == 0.75  # got critical, not just high
    assert lane["false_alarm_rate"] == 0.2
    assert lane["flagged_share_of_regular"] == 0.007 and lane["flagged_share_of_burst"] == 0.05
    assert lane["on_urgent"] == 6 and lane["missing_on_urgent"] == 2
    # e2e from the intended send (100 s): 1, 2, 3, 4, 10, 20 s; service from the actual send (101 s).
    assert lane["e2e_p50_s"] == pytest.approx(3.0, rel=1e-3)
    assert lane["e2e_p99_s"] == pytest.approx(20.0, rel=1e-3) == lane["e2e_max_s"]
    assert lane["service_p99_s"] == pytest.approx(19.0, rel=1e-3)
    assert lane["by_level"]["critical"] == {
        "planned": 5,
        "accepted": 4,
        "judged": 4,
        "critical": 3,
        "high": 1,
        "on_urgent": 4,
        "e2e_p50_s": pytest.approx(2.0, rel=1e-3),
        "e2e_p99_s": pytest.approx(4.0, rel=1e-3),
    }
    assert [s["id"] for s in lane["misses_sample"]] == ["high-3"]
    assert [s["id"] for s in lane["false_alarms_sample"]] == ["normal-1"]
    assert lane["situation_agreement"] is None  # no event named a situation


def test_the_urgent_section_without_a_watch_or_labelled_messages() -> None:
    unwatched = section([_outcome("high", "high", None)], None, watched_urgent=False)
    assert unwatched["missing_on_urgent"] is None and unwatched["e2e_p99_s"] is None
    assert unwatched["recall"] == 1.0 and unwatched["flagged_share_of_regular"] is None
    empty = section([], Regular(), watched_urgent=True, notes=["no corpus"])
    assert empty["count"] == 0 and empty["recall"] is None and empty["missing_on_urgent"] == 0
    assert empty["notes"] == ["no corpus"]
    named = [_outcome("high", "high", 101.0, situation="fire"), _outcome("high", "high", 101.0, n=1)]
    assert section(named, None, watched_urgent=True)["situation_agreement"] == 0.5


def test_the_urgent_section_says_which_lane_the_urgent_tickets_took() -> None:
    outcomes = [
        *(_outcome("critical", "critical", 101.0 + s, n=s, lane=True) for s in (1, 2, 3)),
        _outcome("high", "high", 160.0, n=1),  # the screen missed it: the normal lane, 60 s
        _outcome("high", "high", None, n=2),  # never on the topic: in neither count
    ]
    lanes = section(outcomes, None, watched_urgent=True)["lanes"]
    assert lanes["urgent_lane"] == 3 and lanes["normal_lane"] == 1
    assert lanes["urgent_lane_e2e_p99_s"] == pytest.approx(4.0, rel=1e-3)
    assert lanes["normal_lane_e2e_p50_s"] == pytest.approx(60.0, rel=1e-3)
    assert lanes["normal_lane_by_situation"] == {"fire": 1}


def _record(ticket: str, event: dict[str, Any], at_ms: int = 1_000) -> SimpleNamespace:
    event = {"received_at": "2026-11-28T10:00:00+00:00"} | event
    return SimpleNamespace(key=ticket.encode(), value=orjson.dumps(event), timestamp=at_ms, timestamp_type=0)


def test_the_watch_keeps_each_ticket_s_latest_urgency_and_its_first_event() -> None:
    watch = EventsWatch("127.0.0.1:1", "complaints.events")
    watch._take(
        _record("A", {"event_type": "ticket.urgent", "urgency": "normal", "urgent_screen": "gas_leak"}), 0.0
    )
    watch._take(_record("A", {"urgency": "critical", "urgency_situation": "gas_leak"}, 2_000), 0.0)
    watch._take(_record("B", {"urgency": "high", "urgency_situation": None}), 0.0)
    watch._take(_record("B", {"urgency": "normal"}), 0.0)  # the judgement lowered what the screen raised
    watch._take(_record("C", {"urgency": "normal"}), 0.0)
    # Screened, but past its situation's lane budget: the normal lane's ticket.processed comes first.
    watch._take(
        _record("E", {"event_type": "ticket.processed", "urgent_screen": "fire", "urgency": "high"}), 0.0
    )
    assert watch.urgency("A") == ("critical", "gas_leak")
    assert watch.urgency("B") == ("normal", None)
    assert watch.urgency("C") == ("normal", None) and "C" not in watch.flagged
    assert watch.urgency("D") is None
    assert watch.seen["A"].published_at == 1.0  # the first event counts for the latency
    # The urgent lane announced A; C and E came by the normal lane.
    assert watch.seen["A"].lane and not watch.seen["C"].lane and not watch.seen["E"].lane


async def _run(corpus: UrgencyCorpus) -> tuple[Plan, Recorder]:
    plan = build_plan(PlanSpec(profile="surge-day", scale=0.005, compression=1440 * 300), corpus)
    rec = Recorder(plan, bucket_s=0.01)

    async def gateway(request: int) -> Reply:
        m = int(plan.msg[request])
        return Reply(422) if plan.msg_kind[m] == Kind.INVALID else Reply(202, f"T{m}")

    await run_open_loop(plan.at, gateway, Bounds(), rec, state=LoopState())
    return plan, rec


async def test_observe_and_the_regular_traffic_from_what_the_watches_saw(corpus: UrgencyCorpus) -> None:
    plan, rec = await _run(corpus)
    labelled = plan.labelled_messages().tolist()
    assert set(rec.labelled_sent) == set(labelled)
    events, lane = EventsWatch("x", "complaints.events"), EventsWatch("x", "complaints.urgent")
    for m in range(plan.messages):
        if plan.msg_kind[m] != Kind.INVALID:
            events.seen[f"T{m}"] = Seen(0.0, 0.0, None, None)
    flagged_regular = [
        m for m in range(0, plan.messages, 50) if plan.msg_label[m] < 0 and f"T{m}" in events.seen
    ]
    for m in flagged_regular:
        events.flagged[f"T{m}"] = ("high", None)
    first = labelled[0]
    events.flagged[f"T{first}"] = ("critical", "fire")
    lane.seen[f"T{first}"] = Seen(0.0, 1_000.0 + float(plan.msg_at[first]) + 2.5, None, None)
    outcomes = observe(plan, rec, 1_000.0, events, lane)
    assert [o.ticket for o in outcomes] == [f"T{m}" for m in labelled]
    hit = outcomes[0]
    assert hit.intended == 1_000.0 + float(plan.msg_at[first]) and hit.sent is not None
    # asyncio fires a timer up to its clock's resolution early: a send may precede its plan by microseconds.
    assert hit.sent >= hit.intended - 0.001 and hit.on_urgent == pytest.approx(hit.intended + 2.5)
    assert (hit.urgency, hit.situation) == ("critical", "fire")
    assert all(o.urgency == "normal" and o.on_urgent is None for o in outcomes[1:])
    traffic = regular(plan, rec, events)
    assert traffic.judged == int((plan.msg_kind != Kind.INVALID).sum()) - len(labelled)
    assert traffic.flagged == len(flagged_regular)
    assert traffic.burst_judged == int((plan.msg_kind == Kind.BURST).sum())


async def test_the_report_carries_the_urgent_section_in_json_html_and_summary(corpus: UrgencyCorpus) -> None:
    plan, rec = await _run(corpus)
    outcomes = observe(plan, rec, 0.0, None, None)
    lane = section(outcomes, None, watched_urgent=True, notes=["lane not in place"])
    report = build(
        plan=plan,
        rec=rec,
        state=LoopState(),
        run={"run_id": "t", "profile": "surge-day", "target": "http://127.0.0.1:1", "started_at": "now"},
        e2e=e2e_section(Latency(), "none", 0, 0),
        reconciliation={"accepted": 0, "stored": None, "missing": None, "duplicate_rows": None},
        dedupe=repeats.summarise(plan, rec, None, "none"),
        cut=plan.requests,
        urgent=lane,
    )
    assert problems(report) == []
    assert (
        report["urgent"]["count"]
        == report["ground_truth"]["labelled"]["critical"] + report["ground_truth"]["labelled"]["high"]
    )
    assert report["urgent"]["missing_on_urgent"] == report["urgent"]["count"]
    assert any("never appeared on complaints.urgent" in w for w in report["warnings"])
    page = render(report)
    assert 'id="urgent"' in page and "missing on complaints.urgent" in page and "lane not in place" in page
    assert "urgent: " in summary(report) and "missing_on_urgent" in summary(report)
    del report["urgent"]["recall"]
    assert problems(report) == ["missing urgent.recall"]


def test_the_command_line_sets_the_urgent_share_and_corpus() -> None:
    cfg = config_from_args(
        build_parser().parse_args(["--urgent-share", "0.01", "--urgent-corpus", str(FIXTURE)])
    )
    assert cfg.spec.urgent_share == 0.01 and cfg.urgent_corpus == FIXTURE
    default = config_from_args(build_parser().parse_args([]))
    assert default.spec.urgent_share == 0.005 and default.urgent_corpus.parts[-2:] == ("corpus", "urgency")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--urgent-share", "2"])
    with pytest.raises(ValueError):
        PlanSpec(urgent_share=-0.1)
