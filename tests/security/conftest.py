"""The security report shared by the probes and the targets: .data/security-report.json, written once the
session's security tests have run, and its figures printed at the end of the run (`make security`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ingest.settings import REPO_ROOT

REPORT = REPO_ROOT / ".data" / "security-report.json"
_RAN: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture(scope="session")
def report() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """The probes' results and the targets' figures, written to the report at the end of the session."""
    found: dict[str, list[dict[str, Any]]] = {"results": [], "targets": []}
    _RAN.update(found)
    yield found
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    results = found["results"]
    written = {
        "probes": len(results),
        "as_expected": sum(r["ok"] for r in results),
        "results": sorted(results, key=lambda r: r["probe"]),
        "targets": found["targets"],
    }
    REPORT.write_text(json.dumps(written, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.fixture
def results(report: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The probes' results (each probe, what it tries, expected, actual, what was stored)."""
    return report["results"]


@pytest.fixture
def targets(report: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The issue's targets as measured: what, the target, the figure, whether it was met."""
    return report["targets"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The probes' tally and each target's figure, after the run."""
    if not _RAN:
        return
    results = _RAN["results"]
    if results:
        missed = [r["probe"] for r in results if not r["ok"]]
        terminalreporter.write_line(
            f"security: {len(results) - len(missed)} of {len(results)} probes got their expected answer"
            + (f"; not: {', '.join(missed)}" if missed else "")
        )
    for target in _RAN["targets"]:
        terminalreporter.write_line(
            f"security target: {target['target']}: {target['measured']} "
            f"({'met' if target['ok'] else 'MISSED'})"
        )
    terminalreporter.write_line(f"security report: {REPORT.relative_to(REPO_ROOT)}")
