"""Giving memory back to the system after a large request body.

Parsing a batch of several megabytes makes hundreds of thousands of small objects; once they are freed,
glibc's allocator keeps the pages for reuse, so the gateway's RSS stays near its largest batches' high-water
mark (docs/performance.md, "Memory after large bodies"). `malloc_trim` returns the free pages. With the young
generations collected first it takes milliseconds, so it runs only after bodies over `TRIM_ABOVE`, and only
where glibc provides it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

# Bodies up to this size (every single submission) are not followed by a trim.
TRIM_ABOVE = 1 << 20


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to call
        return None
    return trim


def give_back(body_bytes: int) -> bool:
    """After a request whose body had `body_bytes`: return the allocator's free pages to the system when the
    body was large. True when a trim ran."""
    if body_bytes <= TRIM_ABOVE:
        return False
    trim = _malloc_trim()
    if trim is None:
        return False
    # A batch's invalid items leave validation errors in reference cycles: collected first (the young
    # generations only; the start-up heap is frozen out of the collector's way, ingest/gc_tuning.py).
    gc.collect(1)
    trim(0)
    return True
