"""The processes' event loop: uvloop where installed unless the settings say asyncio."""

from __future__ import annotations

import asyncio

import pytest

from ingest import event_loop
from ingest.settings import Settings


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_auto_runs_on_uvloop_when_it_is_installed() -> None:
    pytest.importorskip("uvloop")
    assert event_loop.resolve("auto") == "uvloop"
    assert event_loop.run(_loop_module(), "auto").startswith("uvloop")


def test_asyncio_runs_on_the_standard_loop() -> None:
    assert event_loop.run(_loop_module(), "asyncio").startswith("asyncio")


def test_the_setting_accepts_only_known_loops() -> None:
    assert Settings(event_loop="asyncio").event_loop == "asyncio"
    with pytest.raises(ValueError):
        Settings(event_loop="trio")
