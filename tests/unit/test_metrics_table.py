"""docs/observability.md's metrics tables name every jiesu metric, each with its type and labels, and nothing
else; the gateway's in-flight gauge does not count the scrape that reads it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import app.main  # noqa: F401  (what registers the metrics of the gateway and the worker processes)
import workers.batch
import workers.consumer
import workers.linking
import workers.rollups.worker  # noqa: F401
from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "observability.md"
# Every module that may define a metric: a new one in a module the imports above miss is found here.
SOURCES = [REPO / d for d in ("app", "ingest", "workers", "jiesu")]
_DEFINED = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*\"(jiesu_\w+)\"")
_ROW = re.compile(r"^\| `(jiesu_\w+)` \| (\w+) \|([^|]*)\|", re.MULTILINE)


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The rows of the Metrics section's tables: name → (type, labels)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name, kind, labels in _ROW.findall(section):
        assert name not in rows, f"{name} has two rows"
        rows[name] = (kind, tuple(re.findall(r"`(\w+)`", labels)))
    return rows


def registered() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The jiesu metrics in the process's registry: exposed name → (type, labels)."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    collectors: Any = REGISTRY._collector_to_names  # no public listing of the collectors' label names
    for collector in list(collectors):
        name, kind = getattr(collector, "_name", ""), getattr(collector, "_type", "")
        if not name.startswith("jiesu_"):
            continue
        exposed = f"{name}_total" if kind == "counter" else name
        out[exposed] = (kind, tuple(getattr(collector, "_labelnames", ())))
    return out


def defined_in_source() -> set[str]:
    names: set[str] = set()
    for folder in SOURCES:
        for path in folder.rglob("*.py"):
            names.update(_DEFINED.findall(path.read_text(encoding="utf-8")))
    return names


def test_every_registered_metric_has_a_row_with_its_type_and_labels() -> None:
    rows, metrics = documented(), registered()
    missing = sorted(set(metrics) - set(rows))
    assert not missing, f"metrics with no row in docs/observability.md: {missing}"
    wrong = {name: (rows[name], metrics[name]) for name in metrics if rows[name] != metrics[name]}
    assert not wrong, f"rows whose (type, labels) differ from the registry's (row, registry): {wrong}"


def test_every_row_names_a_registered_metric() -> None:
    stale = sorted(set(documented()) - set(registered()))
    assert not stale, f"rows of docs/observability.md naming no metric: {stale}"


def test_every_metric_defined_in_the_source_is_registered_here() -> None:
    # Otherwise a module the imports above miss could define a metric that no row describes.
    assert defined_in_source() <= set(registered()), sorted(defined_in_source() - set(registered()))


def test_the_tables_cover_the_metrics_the_runbook_needed() -> None:
    rows = documented()
    for name in (
        "jiesu_worker_bucket_lock_wait_seconds",
        "jiesu_worker_bucket_lock_held_seconds",
        "jiesu_worker_batch_limit",
        "jiesu_worker_urgent_lane_lag",
        "jiesu_worker_redelivered_total",
        "jiesu_worker_client_repeats_total",
        "jiesu_gateway_urgent_lane_total",
    ):
        assert name in rows, name
    assert rows["jiesu_gateway_urgent_lane_total"] == ("counter", ("outcome", "situation"))


async def test_the_scrape_is_not_counted_in_flight() -> None:
    settings = Settings(
        kafka_bootstrap_servers="", database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none"
    )
    gateway = create_app(settings, broker=in_process_broker(settings))
    async with gateway.router.lifespan_context(gateway):
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            for _ in range(2):  # the second scrape also sees that the first one left nothing behind
                resp = await http.get("/metrics")
                assert resp.status_code == 200
                families = {f.name: f for f in text_string_to_metric_families(resp.text)}
                [sample] = families["jiesu_gateway_in_flight_requests"].samples
                assert sample.value == 0
            # ... while the scrapes themselves are still counted as requests.
            resp = await http.get("/metrics")
            requests = {
                s.labels["route"]: s.value
                for f in text_string_to_metric_families(resp.text)
                if f.name == "jiesu_gateway_requests"
                for s in f.samples
                if s.name == "jiesu_gateway_requests_total" and s.labels["status"] == "200"
            }
            assert requests.get("/metrics", 0) >= 2
