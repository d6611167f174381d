"""Locust file for teams that prefer Locust: the simulator's own plan and bodies, through Locust's users.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 --headless

Configured from the environment (same meaning as the `python -m loadtest` options): LOADTEST_PROFILE
(constant | normal-day | surge-day), LOADTEST_SCALE, LOADTEST_MESSAGES, LOADTEST_RATE, LOADTEST_DURATION
(constant profile, seconds), LOADTEST_REPLAY_MINUTES, LOADTEST_RETRY_SHARE, LOADTEST_RESUBMIT_SHARE,
LOADTEST_INVALID_SHARE, LOADTEST_SEED, LOADTEST_RUN_ID, LOADTEST_CORPUS.

Each user sends at most one request per second, and the shape below keeps as many users as the plan's
arrival rate at that moment, so the day's curve and the burst come through. But Locust is closed-loop: when
the server slows down, its users wait and the arrivals drop with it, and its latencies leave out the wait
(coordinated omission). For figures to rely on, and for reconciliation, use `python -m loadtest`.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from locust import FastHttpUser, LoadTestShape, constant_throughput, task
from locust.exception import StopUser

from loadtest.bodies import Messages
from loadtest.plan import Kind, Plan, PlanSpec, build_plan
from loadtest.texts import Corpus


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def plan_from_env() -> tuple[Plan, Messages]:
    """The plan and bodies the LOADTEST_* variables describe."""
    profile = os.environ.get("LOADTEST_PROFILE", "constant")
    replay = os.environ.get("LOADTEST_REPLAY_MINUTES")
    messages = os.environ.get("LOADTEST_MESSAGES")
    spec = PlanSpec(
        profile=profile,
        scale=_env_float("LOADTEST_SCALE", 1.0),
        messages=int(messages) if messages else None,
        rate=_env_float("LOADTEST_RATE", 50.0),
        constant_duration_s=_env_float("LOADTEST_DURATION", 60.0),
        compression=24 * 60 / float(replay) if replay and profile != "constant" else 1.0,
        retry_share=_env_float("LOADTEST_RETRY_SHARE", 0.03),
        resubmit_share=_env_float("LOADTEST_RESUBMIT_SHARE", 0.02),
        invalid_share=_env_float("LOADTEST_INVALID_SHARE", 0.01),
        seed=int(os.environ.get("LOADTEST_SEED") or 12345),
    )
    plan = build_plan(spec)
    corpus_path = os.environ.get("LOADTEST_CORPUS")
    corpus = Corpus.load(Path(corpus_path)) if corpus_path else None
    run_id = os.environ.get("LOADTEST_RUN_ID") or f"lc{uuid.uuid4().hex[:8]}"
    return plan, Messages(plan, run_id, corpus)


PLAN, MESSAGES = plan_from_env()
_NEXT = itertools.count()
_LOCK = threading.Lock()
_PER_SECOND = np.bincount(PLAN.at.astype(np.int64)) if PLAN.requests else np.zeros(1, dtype=np.int64)


def next_request() -> int | None:
    """The next request of the plan, in plan order, shared by all users of this process."""
    with _LOCK:
        i = next(_NEXT)
    return i if i < PLAN.requests else None


class HotlineAdapter(FastHttpUser):
    """A channel adapter posting the plan's submissions; 422 is the right answer to an invalid one."""

    wait_time = constant_throughput(1.0)

    @task
    def submit(self) -> None:
        """Post the next request of the plan."""
        request = next_request()
        if request is None:
            raise StopUser()
        m = int(PLAN.msg[request])
        kind = Kind(int(PLAN.kind[request])).name.lower()
        invalid = PLAN.msg_kind[m] == Kind.INVALID
        name = f"POST /v1/complaints [{PLAN.channel_of(request)} {kind}]"
        with self.client.post(
            "/v1/complaints",
            data=MESSAGES.body(m).decode(),
            headers={"content-type": "application/json"},
            name=name,
            catch_response=True,
        ) as resp:
            expected = resp.status_code in (400, 422) if invalid else resp.status_code == 202
            if expected:
                resp.success()
            else:
                resp.failure(
                    f"unexpected {resp.status_code} for a {'n invalid' if invalid else ' valid'} body"
                )


class PlanShape(LoadTestShape):
    """As many users as the plan's arrival rate per second at each moment; stops at the plan's end."""

    def tick(self) -> tuple[int, float] | None:
        """(users, spawn rate) now, or None when the plan is over."""
        second = int(time.perf_counter() - self.start_time)  # get_run_time() is untyped
        if second >= len(_PER_SECOND):
            return None
        users = max(1, int(_PER_SECOND[second]))
        return users, float(max(users, 10))
