"""The fuzz suites' gateway (the real app on the in-process bus, driven synchronously) and their figures.

Hypothesis drives plain synchronous tests; each request goes through the whole ASGI app (middleware, body
limit, validation, problem handlers) on an event loop of the fixture's own. `.data/fuzz-report.json` gets
the figures: requests sent and answers by kind and status.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.settings import REPO_ROOT, Settings
from ingest.topics import INTAKE, INTAKE_URGENT, topic_name
from tests.fuzz.strategies import Case

REPORT_PATH = REPO_ROOT / ".data" / "fuzz-report.json"

# Deterministic by default, so CI fails on a regression and not on a lucky draw;
# JIESU_FUZZ_RANDOM=1 explores new examples (a failure prints the example and how to reproduce it).
settings.register_profile(
    "jiesu-fuzz",
    deadline=None,
    derandomize=os.environ.get("JIESU_FUZZ_RANDOM") != "1",
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)


def examples(default: int) -> int:
    """Examples per property: `default` scaled by JIESU_FUZZ_SCALE (e.g. 10 for a long exploratory run)."""
    return max(1, int(default * float(os.environ.get("JIESU_FUZZ_SCALE", "1"))))


class FuzzFigures:
    """Counts of requests by kind and answer, written to `.data/fuzz-report.json` at the end."""

    def __init__(self) -> None:
        self.by_suite: dict[str, Counter[str]] = {}

    def count(self, suite: str, kind: str, status: int | str) -> None:
        """Count one request of `kind` that got `status`."""
        self.by_suite.setdefault(suite, Counter())[f"{kind.split(':', maxsplit=1)[0]} → {status}"] += 1

    def write(self) -> None:
        """Merge this session's figures into the report."""
        if not self.by_suite:
            return
        report: dict[str, Any] = {}
        if REPORT_PATH.exists():
            report = json.loads(REPORT_PATH.read_text(encoding="utf-8"))
        for suite, counts in self.by_suite.items():
            statuses: Counter[str] = Counter()
            for key, n in counts.items():
                statuses[key.rsplit(" → ", 1)[1]] += n
            report[suite] = {
                "requests": sum(counts.values()),
                "by_status": dict(statuses),
                "by_kind": dict(counts),
            }
        REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
        REPORT_PATH.write_text(
            json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True) + "\n", "utf-8"
        )


@pytest.fixture(scope="session")
def fuzz_figures() -> Iterator[FuzzFigures]:
    """This session's fuzz figures."""
    figures = FuzzFigures()
    yield figures
    figures.write()


class InProcessGateway:
    """The gateway app with its lifespan on an event loop of its own, called synchronously."""

    def __init__(self) -> None:
        self.settings = Settings(kafka_bootstrap_servers="", log_level="WARNING")
        self.broker = in_process_broker(self.settings)
        self.app = create_app(self.settings, broker=self.broker)
        self.loop = asyncio.new_event_loop()
        self._lifespan: AbstractAsyncContextManager[Any] = self.app.router.lifespan_context(self.app)
        self.loop.run_until_complete(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30)

    def send(self, case: Case) -> httpx.Response:
        """Send one case through the app."""
        headers = dict(case.headers)
        if case.content_type is not None:
            headers["content-type"] = case.content_type
        request = self.client.request(case.method, case.path, content=case.body, headers=headers)
        return self.loop.run_until_complete(request)

    def intake(self) -> list[bytes]:
        """Values of every record on the intake topics (both lanes)."""
        prefix = self.settings.topic_prefix
        lanes = (topic_name(INTAKE, prefix), topic_name(INTAKE_URGENT, prefix))
        return [m.value for lane in lanes for m in self.broker.records(lane)]

    def close(self) -> None:
        """Close the client, run the lifespan's shutdown, close the loop."""
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture
def gateway() -> Iterator[InProcessGateway]:
    """A fresh gateway (its own bus, limits and flood tracker) for one property."""
    gw = InProcessGateway()
    try:
        yield gw
    finally:
        gw.close()


def assert_refused(case: Case, resp: httpx.Response) -> None:
    """A clear refusal: 4xx, problem+json, its status repeated in the body, a title and a detail."""
    where = f"{resp.status_code} for {case.describe()}\n→ {resp.text[:500]}"
    assert 400 <= resp.status_code < 500, where
    assert resp.headers.get("content-type", "").startswith("application/problem+json"), where
    body = resp.json()
    assert isinstance(body, dict), where
    assert body.get("status") == resp.status_code, where
    assert isinstance(body.get("title"), str) and body["title"], where
    assert isinstance(body.get("detail"), str), where
    if resp.status_code == 422 and "errors" in body:
        assert body["errors"], where
        assert all(isinstance(e, dict) and e.get("field") and "message" in e for e in body["errors"]), where
