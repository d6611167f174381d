"""Thousands of malformed requests through the real gateway app: each refused with a clear 4xx, none reaches
the intake topic, nothing answers 5xx. And hostile text in the free-text fields of a valid submission is data:
accepted, and on the topic exactly as normalised.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from app.observability import UNMATCHED
from ingest.normalise import normalise_text
from tests.fuzz.conftest import FuzzFigures, InProcessGateway, assert_refused, examples
from tests.fuzz.strategies import EMOJI, INJECTIONS, MALFORMED, SCRIPTS, Case, hostile_text, valid_submission

PROFILE = settings.get_profile("jiesu-fuzz")
pytestmark = pytest.mark.fuzz


def test_malformed_submissions_are_refused(gateway: InProcessGateway, fuzz_figures: FuzzFigures) -> None:
    @settings(PROFILE, max_examples=examples(6000))
    @given(case=MALFORMED)
    def refused(case: Case) -> None:
        resp = gateway.send(case)
        fuzz_figures.count("in_process_malformed", case.kind, resp.status_code)
        assert_refused(case, resp)

    refused()
    assert gateway.intake() == [], "a refused request reached the intake topic"


def test_hostile_text_in_valid_submissions_is_accepted_as_data(
    gateway: InProcessGateway, fuzz_figures: FuzzFigures
) -> None:
    sent: set[tuple[str, str]] = set()

    @settings(PROFILE, max_examples=examples(600))
    @given(body=valid_submission())
    def accepted(body: dict[str, object]) -> None:
        case = Case("valid_hostile_text", orjson.dumps(body))
        resp = gateway.send(case)
        fuzz_figures.count("in_process_valid_hostile", case.kind, resp.status_code)
        assert resp.status_code == 202, f"{case.describe()} → {resp.status_code} {resp.text[:300]}"
        call = body.get("call")
        raw = call["transcript"][0]["text"] if isinstance(call, dict) else body["content"]
        sent.add((resp.json()["ticket_id"], normalise_text(str(raw))))

    accepted()
    # Pairs, not the last content per ticket: a retry with other words may take the other lane.
    on_topic = {(rec["ticket_id"], rec["content"]) for rec in map(orjson.loads, gateway.intake())}
    assert on_topic == sent, "the topic does not carry exactly the normalised text of what was accepted"


def test_unknown_tickets_paths_and_methods_are_refused(
    gateway: InProcessGateway, fuzz_figures: FuzzFigures
) -> None:
    segment = st.one_of(
        hostile_text, st.sampled_from(INJECTIONS), st.sampled_from(EMOJI), st.sampled_from(SCRIPTS)
    )

    @settings(PROFILE, max_examples=examples(600))
    @given(
        kind=st.sampled_from(("ticket", "path", "method")),
        value=segment.map(lambda s: quote(s, safe="")),
        method=st.sampled_from(("PUT", "DELETE", "PATCH", "TRACE")),
    )
    def refused(kind: str, value: str, method: str) -> None:
        if kind == "ticket":
            case = Case("unknown_ticket", b"", None, method="GET", path=f"/v1/complaints/JS{value}")
        elif kind == "path":
            case = Case("unknown_path", b"{}", method="POST", path=f"/v1/x{value}/complaints")
        else:
            case = Case("wrong_method", b"{}", method=method, path="/v1/complaints")
        resp = gateway.send(case)
        fuzz_figures.count("in_process_paths", case.kind, resp.status_code)
        assert_refused(case, resp)

    refused()
    assert gateway.intake() == []
    # The metrics middleware labels by route template: fuzzed paths never become series of their own.
    routes = {
        sample.labels["route"]
        for family in REGISTRY.collect()
        if family.name == "jiesu_gateway_requests"
        for sample in family.samples
    }
    assert {UNMATCHED, "/v1/complaints", "/v1/complaints/{ticket_id}"} <= routes, routes
    fuzzed = {r for r in routes if "%" in r or r.startswith(("/v1/x", "/v1/complaints/JS"))}
    assert not fuzzed, fuzzed
    assert REGISTRY.get_sample_value("jiesu_gateway_in_flight_requests") == 0
