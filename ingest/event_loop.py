"""Which asyncio event loop a process runs on: uvloop where installed (it comes with uvicorn[standard]),
else the standard library's.

The gateway runs on uvloop through uvicorn's `loop="auto"`; the workers and the load generator choose it
here, because on the standard loop every socket read of aiokafka and asyncpg and every callback pay the
pure-Python selector's overhead. `JIESU_EVENT_LOOP=asyncio` selects the standard loop (debugging, or a
platform without uvloop); docs/performance.md has the measured difference.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

LoopName = Literal["auto", "uvloop", "asyncio"]


def resolve(name: LoopName) -> Literal["uvloop", "asyncio"]:
    """The loop `name` means here: `auto` is uvloop when it can be imported."""
    if name == "auto":
        return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    return name


def run(main: Coroutine[Any, Any, T], name: LoopName = "auto") -> T:
    """`asyncio.run(main)` on the loop `name` resolves to."""
    if resolve(name) == "uvloop":
        import uvloop  # optional: imported only where it is installed

        return uvloop.run(main)
    return asyncio.run(main)
