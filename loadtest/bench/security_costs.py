"""`python -m loadtest.bench.security_costs`: what issue 18's checks cost one accepted submission, and the
gateway's memory after large batches (docs/performance.md, "Issue 18 (security) on the accepting path").

Micro-benchmarks in this process (`timeit`, best of 9 rounds, the empty call subtracted), so they can be taken
on a shared machine where `make bench`'s whole-gateway figures would drown in the noise.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import timeit
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import TypeAdapter

from app.intake import build_record
from app.limits import InvalidBudget
from app.main import create_app
from ingest.bus.factory import in_process_broker
from ingest.schemas.submission import AnySubmission, Submission
from ingest.settings import Settings
from ingest.storable import unstorable_fields

ROUNDS, CALLS = 9, 200_000
KEY = "bench-portal-key-0123456789abcdef"
BODY: dict[str, Any] = {
    "channel": "web",
    "external_id": "web-0001",
    "title": "小区门口烧烤摊夜间噪音扰民",
    "content": "朝阳区望京西园三区门口的烧烤摊每天营业到凌晨两点，油烟和噪音很大。",
    "citizen": {"phone": "13800138000", "email": "wang@example.com"},
    "location": {"district": "朝阳区", "address": "望京西园三区"},
}


def _ns(call: Callable[[], object]) -> float:
    """Nanoseconds a call, the cost of calling nothing subtracted."""
    best = min(timeit.repeat(call, number=CALLS, repeat=ROUNDS)) / CALLS
    empty = min(timeit.repeat(lambda: None, number=CALLS, repeat=ROUNDS)) / CALLS
    return (best - empty) * 1e9


def check_costs() -> dict[str, float]:
    """ns per accepted submission of each check on the accepting path."""
    adapter: TypeAdapter[AnySubmission] = TypeAdapter(Submission)
    out: dict[str, float] = {}
    for label, content in (("one line", BODY["content"]), ("with a newline", BODY["content"] + "\n第二行")):
        sub = adapter.validate_python({**BODY, "content": content})
        value = build_record(sub, None, "s" * 20).value
        check = functools.partial(unstorable_fields, value, sub)
        out[f"storable check, {label} ({len(value)} B record)"] = _ns(check)
    budget = InvalidBudget(5, 300)
    out["invalid-input budget, a clean adapter"] = _ns(lambda: budget.wait("portal"))
    loop = asyncio.new_event_loop()
    out["header and body deadlines (two loop clock readings)"] = _ns(lambda: (loop.time(), loop.time()))
    loop.close()
    return out


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def memory_after_batches(batches: int = 5) -> dict[str, float]:
    """RSS (MiB) before and after `batches` batches of 500 invalid 5,000-character items, and after a full
    collection: what stays is what the allocator kept (app/memory.py gives it back)."""
    settings = Settings(
        kafka_bootstrap_servers="",
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
        api_keys=f"bench:web:{KEY}",
        rate_limit_per_s=0,
        invalid_rate_per_s=0,
        log_level="WARNING",
    )
    app = create_app(settings, broker=in_process_broker(settings))
    items = [{"channel": "web", "content": "路" * 5000, "citizen": {"phone": "12"}} for _ in range(500)]
    body = json.dumps({"items": items}, ensure_ascii=False).encode()
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as http:
            await http.get("/healthz")
            before = _rss_mib()
            for _ in range(batches):
                await http.post("/v1/complaints/batch", content=body, headers=headers)
            after = _rss_mib()
            gc.collect()
            return {"body_mib": len(body) / 2**20, "before": before, "after": after, "after_gc": _rss_mib()}


def main() -> None:
    """Print both measurements."""
    for name, ns in check_costs().items():
        print(f"{name}: {ns:.0f} ns")
    memory = asyncio.run(memory_after_batches())
    print(
        f"RSS with five {memory['body_mib']:.1f} MiB batches: {memory['before']:.0f} MiB before, "
        f"{memory['after']:.0f} after, {memory['after_gc']:.0f} after a full collection"
    )


if __name__ == "__main__":
    main()
