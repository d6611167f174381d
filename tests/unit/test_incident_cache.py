"""The workers' in-memory incidents: bounded per bucket, and nothing kept from an unconfirmed batch."""

from __future__ import annotations

from datetime import datetime, timedelta

from workers.incident_cache import IncidentCache
from workers.judgement.incidents import Incident
from workers.judgement.signature import IssueSignature

T0 = datetime(2026, 11, 1, 9, 0)


def _incident(n: int, bucket: str = "A") -> Incident:
    at = T0 + timedelta(hours=n)
    return Incident(
        incident_id=f"inc-{n}", bucket=bucket, size=1, first_seen=at, last_seen=at, title="路灯不亮",
        category=None, city=None, district=None, places=(), signature=IssueSignature(terms={"路灯": 1.0}),
    )  # fmt: skip


def test_a_bucket_over_its_bound_keeps_its_most_recently_seen_incidents() -> None:
    cache = IncidentCache(max_per_bucket=4)
    for n in range(6):
        cache.create(_incident(n), ["路灯"], f"m{n}")
    cache.create(_incident(9, bucket="B"), ["路灯"], "m9")
    cache.confirm()
    found = cache.candidates("A", T0, ["路灯"], 64)
    assert [c.incident_id for c in found] == ["inc-5", "inc-4", "inc-3", "inc-2"]
    assert set(cache.incidents) == {"inc-2", "inc-3", "inc-4", "inc-5", "inc-9"}
    assert list(cache._index["A"]["路灯"]) == ["inc-2", "inc-3", "inc-4", "inc-5"]


def test_the_next_batch_forgets_buckets_an_unconfirmed_batch_changed() -> None:
    cache = IncidentCache()
    cache._unconfirmed.add("A")  # as sync() marks a bucket it brought up to date
    cache.create(_incident(1), ["路灯"], "m1")
    cache.begin()  # no confirm(): the transaction did not commit
    assert cache.candidates("A", T0, ["路灯"], 64) == [] and not cache.incidents
