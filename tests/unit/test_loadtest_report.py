"""The report's contract (JSON), its checks, the dedupe figures, the HTML page and the command line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest import repeats
from loadtest.__main__ import main, summary
from loadtest.auth import headers_for, parse_keys
from loadtest.client import is_loopback
from loadtest.config import build_parser, config_from_args, parse_mix, parse_window
from loadtest.html import render
from loadtest.plan import Kind, PlanSpec, build_plan
from loadtest.report import build, e2e_section, problems, write_json
from loadtest.results import Recorder, Reply
from loadtest.scheduler import Bounds, LoopState, run_open_loop
from loadtest.stats import Latency
from loadtest.svg import nice_ticks


async def _report(*, missing: int = 0, incident: bool = True) -> dict[str, Any]:
    spec = PlanSpec(profile="surge-day", scale=0.002, compression=1440 * 300, retry_share=0.1)
    plan = build_plan(spec)
    rec = Recorder(plan, bucket_s=0.01)

    async def gateway(request: int) -> Reply:
        m = int(plan.msg[request])
        return Reply(422) if plan.msg_kind[m] == Kind.INVALID else Reply(202, f"T{m}")

    state = await run_open_loop(plan.at, gateway, Bounds(), rec, state=LoopState())
    accepted = rec.accepted_ids()
    links = {
        t: (None, "INC1" if incident and plan.msg_kind[int(t[1:])] == Kind.BURST else None) for t in accepted
    }
    e2e = Latency()
    for ms in (20, 30, 40):
        e2e.record(ms / 1000)
    return build(
        plan=plan,
        rec=rec,
        state=state,
        run={"run_id": "t", "profile": spec.profile, "target": "http://127.0.0.1:1", "started_at": "now"},
        e2e=e2e_section(e2e, "kafka-events", 3, len(accepted)),
        reconciliation={
            "accepted": len(accepted),
            "stored": len(accepted) - missing,
            "missing": missing,
            "duplicate_rows": 0,
            "drained": missing == 0,
        },
        dedupe=repeats.summarise(plan, rec, links, "postgres"),
        cut=plan.requests,
    )


async def test_report_keeps_its_contract(tmp_path: Path) -> None:
    report = await _report()
    assert problems(report) == []
    for key in ("p50", "p90", "p99", "p999", "max"):
        assert report["latency_ms"][key] is not None
    assert report["sent"] == report["ground_truth"]["requests"]
    assert report["accepted"] + report["rejected_4xx"] == report["sent"]
    assert report["ok"] is True
    path = tmp_path / "r.json"
    write_json(report, path)
    assert orjson.loads(path.read_bytes())["schema"] == "jiesu.loadtest.report/1"
    broken = copy.deepcopy(report)
    del broken["reconciliation"]["duplicate_rows"]
    del broken["sent"]
    assert problems(broken) == ["missing sent", "missing reconciliation.duplicate_rows"]
    with pytest.raises(ValueError, match="schema"):
        write_json(broken, tmp_path / "broken.json")


async def test_dedupe_figures_against_ground_truth() -> None:
    report = await _report()
    dd = report["dedupe"]
    truth = report["ground_truth"]["by_kind"]
    assert dd["client_retries"]["sent"] == truth["retry"]
    assert dd["client_retries"]["same_ticket"] == truth["retry"]
    assert dd["resubmissions"]["sent"] == truth["resubmit"]
    assert dd["resubmissions"]["linked"] == 0  # nothing set duplicate_of ...
    assert any("duplicate_of is null" in n for n in dd["notes"])  # ... and the report says so
    assert dd["retries_sent"] == truth["retry"] + truth["resubmit"]
    assert dd["retries_linked"] == truth["retry"]
    assert dd["burst_sent"] == truth["burst"] > 0
    assert dd["burst_largest_incident"] == truth["burst"]
    ungrouped = (await _report(incident=False))["dedupe"]
    assert ungrouped["burst_largest_incident"] == 0
    assert any("incident_id is null" in n for n in ungrouped["notes"])


async def test_a_missing_ticket_fails_the_checks() -> None:
    report = await _report(missing=1)
    assert report["checks"]["missing_zero"] is False
    assert report["ok"] is False
    assert "FAILED missing_zero" in summary(report)


async def test_html_report_is_self_contained_with_plots() -> None:
    page = render(await _report())
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") >= 6
    # Nothing to fetch: no scripts, no external stylesheets, fonts or images.
    assert (
        "<script" not in page and 'src="' not in page and 'href="http' not in page and "@import" not in page
    )
    assert "incident burst" in page
    assert "missing tickets" in page


def test_command_line_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The target comes from the environment before .data/services.env, whatever stack runs beside the test.
    monkeypatch.setenv("JIESU_GATEWAY_URL", "http://127.0.0.1:8000")
    args = build_parser().parse_args(
        [
            "--profile",
            "surge-day",
            "--scale",
            "0.01",
            "--replay-minutes",
            "3",
            "--mix",
            "web=1,wechat=1,phone=2",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.spec.compression == pytest.approx(480)
    assert cfg.spec.channel_mix == (1.0, 2.0, 1.0)
    assert cfg.target == "http://127.0.0.1:8000"
    assert cfg.report.suffix == ".json"
    assert parse_mix("wechat=55,phone=30,web=15") == (55.0, 30.0, 15.0)
    assert parse_window("19:00-21:30") == (19 * 3600.0, 21.5 * 3600.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--mix", "fax=1"])


def test_only_this_machine_is_a_target_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        is_loopback("http://127.0.0.1:8000")
        and is_loopback("http://localhost:1")
        and is_loopback("http://[::1]:8")
    )
    assert not is_loopback("http://10.0.0.5:8000") and not is_loopback("https://example.org")
    with pytest.raises(SystemExit) as exc:
        main(["--target", "http://192.0.2.1:8000"])
    assert exc.value.code == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_adapter_keys_and_signatures() -> None:
    keys = parse_keys("wx:wechat:k1,call:phone:k2", "call:" + "s" * 32)
    assert set(keys) == {"wechat", "phone"}
    assert headers_for(keys["wechat"], "POST", "/v1/complaints", b"{}") == {"authorization": "Bearer k1"}
    signed = headers_for(keys["phone"], "POST", "/v1/complaints", b"{}")
    assert signed["x-jiesu-signature"].startswith("sha256=") and len(signed["x-jiesu-nonce"]) >= 16
    assert headers_for(None, "POST", "/", b"") == {}
    with pytest.raises(ValueError):
        parse_keys("bad-entry")


def test_axis_ticks_cover_the_data() -> None:
    for lo, hi in ((0, 5.25), (0, 7.35), (0, 1), (0, 311), (3, 1234.5)):
        ticks = nice_ticks(lo, hi)
        assert ticks[0] <= lo and ticks[-1] >= hi and len(ticks) <= 8
