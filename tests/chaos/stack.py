"""A private Kafka + Postgres for fault tests, run by the project's own scripts on other ports and data dir.

Chaos scenarios kill brokers and databases, so they never touch the shared stack on the default ports that
other tests use: `scripts/kafka.sh` and `scripts/postgres.sh` run here with `JIESU_STATE_DIR` pointing at
`.data/chaos` (override: JIESU_CHAOS_STATE_DIR) and their own ports (JIESU_CHAOS_KAFKA_PORT, default 29092,
controller +1; JIESU_CHAOS_PG_PORT, default 25432).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ingest.settings import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"
SHARED_KAFKA_LIBS = REPO_ROOT / ".data" / "kafka" / "libs"


class StackError(RuntimeError):
    """A script of the local stack failed."""


@dataclass
class ChaosStack:
    """Ports and data dir of the private stack, and the faults it can suffer."""

    data_dir: Path
    kafka_port: int = 29092
    pg_port: int = 25432
    kafka_heap: str = "-Xms512m -Xmx512m"

    @classmethod
    def from_env(cls) -> ChaosStack:
        """The stack the environment asks for (JIESU_CHAOS_*), defaults otherwise."""
        return cls(
            data_dir=Path(os.environ.get("JIESU_CHAOS_STATE_DIR", REPO_ROOT / ".data" / "chaos")),
            kafka_port=int(os.environ.get("JIESU_CHAOS_KAFKA_PORT", "29092")),
            pg_port=int(os.environ.get("JIESU_CHAOS_PG_PORT", "25432")),
        )

    @property
    def bootstrap(self) -> str:
        """Kafka bootstrap servers of the private broker."""
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def server_url(self) -> str:
        """URL of the private Postgres's default database (scenarios create their own next to it)."""
        return f"postgresql+asyncpg://jiesu@127.0.0.1:{self.pg_port}/jiesu"

    @property
    def log_dir(self) -> Path:
        """Where the gateway and worker processes of the scenarios write their logs."""
        return self.data_dir / "logs"

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "JIESU_STATE_DIR": str(self.data_dir),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.kafka_port + 1),
            "KAFKA_HEAP_OPTS": self.kafka_heap,
            "PG_PORT": str(self.pg_port),
        }
        # The jars of the shared stack, when fetched already: no second mvn run for the same pom.
        if "KAFKA_LIBS" not in os.environ and (SHARED_KAFKA_LIBS / ".pom.sha256").exists():
            env["KAFKA_LIBS"] = str(SHARED_KAFKA_LIBS)
        return env

    def run(self, service: str, action: str) -> float:
        """`scripts/<service>.sh <action>` on the private stack; seconds it took. StackError if it fails."""
        started = time.monotonic()
        done = subprocess.run(
            ["bash", str(SCRIPTS / f"{service}.sh"), action],
            env=self._env(),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(
                f"{service}.sh {action} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return time.monotonic() - started

    async def arun(self, service: str, action: str) -> float:
        """`run` in a thread, so load keeps flowing on the event loop meanwhile."""
        return await asyncio.to_thread(self.run, service, action)

    def start(self) -> None:
        """Start both services (idempotent). A broker that is not running starts from empty storage.

        Every scenario leaves its topics behind, and a broker restarted after SIGKILL recovers every partition
        it holds: starting each session from empty storage keeps that restart (the fault under test) short.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run("postgres", "start")
        kafka_home = self.data_dir / "kafka"
        if not self.running("kafka"):
            shutil.rmtree(kafka_home / "data", ignore_errors=True)
            (kafka_home / "cluster.id").unlink(missing_ok=True)
        self.run("kafka", "start")

    def running(self, service: str) -> bool:
        """True when the script says the service runs."""
        try:
            self.run(service, "status")
        except StackError:
            return False
        return True

    def stop(self) -> None:
        """Stop both services."""
        for service in ("kafka", "postgres"):
            try:
                self.run(service, "stop")
            except StackError:
                continue

    def kafka_pid(self) -> int:
        """The private broker's pid (from the script's pid file)."""
        return int((self.data_dir / "kafka" / "kafka.pid").read_text().strip())

    def pause_kafka(self) -> None:
        """SIGSTOP the broker: connections stay open, nothing is acknowledged (requests wait in flight)."""
        os.kill(self.kafka_pid(), signal.SIGSTOP)

    def resume_kafka(self) -> None:
        """SIGCONT the broker."""
        os.kill(self.kafka_pid(), signal.SIGCONT)
