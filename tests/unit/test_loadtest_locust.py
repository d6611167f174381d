"""The locustfile builds the simulator's plan from the environment and follows its rate.

Run in a subprocess: importing locust monkey-patches the standard library with gevent, which must not happen
inside the test session's asyncio loop.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from ingest.settings import REPO_ROOT

_PROBE = """
import loadtest.locustfile as lf
from loadtest.plan import Kind
assert lf.PLAN.messages == 200, lf.PLAN.messages
seen = [lf.next_request() for _ in range(lf.PLAN.requests + 3)]
assert seen[: lf.PLAN.requests] == list(range(lf.PLAN.requests)) and seen[-1] is None
shape = lf.PlanShape()
users, rate = shape.tick()
assert 15 <= users <= 30, users
assert issubclass(lf.HotlineAdapter, __import__("locust").FastHttpUser)
print("ok", lf.PLAN.requests)
"""


@pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="locust is not installed")
def test_locustfile_follows_the_plan() -> None:
    env = {**os.environ, "LOADTEST_RATE": "20", "LOADTEST_DURATION": "10", "LOADTEST_SEED": "3"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok ")
