"""The garbage collector's settings of the long-running processes: the gateway and the workers.

With Python's defaults (a young collection every 700 allocations, a full one every 100 young ones) a
process that allocates a few dozen objects per message spends a measurable share of its CPU walking the
objects it built at start-up — the app, pydantic's validators, the judgement model, the incident cache —
and pauses for the full collections. Moving the start-up heap into the permanent generation (`gc.freeze`)
and collecting less often removes most of that, full collections and their pauses included
(docs/performance.md has the figures). Cycles are still collected, only later; what the thresholds let pile
up between collections is a few megabytes at most.
"""

from __future__ import annotations

import gc

# Young collections every 50,000 allocations instead of 700; middle every 20 young, full every 100 middle.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc(enabled: bool = True) -> None:
    """Freeze what is alive now and collect less often from here on (JIESU_GC_TUNING=false: Python's way)."""
    if not enabled:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
