"""Where a run's CPU went: the processes it started, the local Kafka and Postgres, and the rest.

The surge day shares two cores between the gateway, the workers, the simulator, Kafka and Postgres; whether
the workers kept up depends on what the others took, so the run reports every share, not only its own
children's. Process figures come from /proc/<pid>/stat; the machine's busy time from /proc/stat.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loadtest.bench.procs import REPO_ROOT

KAFKA_PID_FILE = REPO_ROOT / ".data" / "kafka" / "kafka.pid"
POSTMASTER_PID_FILE = REPO_ROOT / ".data" / "postgres" / "data" / "postmaster.pid"
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_seconds(pid: int, with_reaped_children: bool = False) -> float:
    """User + system CPU of `pid`; with its reaped children's too (Postgres backends that have exited)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def postgres_seconds(postmaster: int) -> float:
    """The postmaster, its live backends and those that have exited (their time lands in its cutime)."""
    return process_seconds(postmaster, with_reaped_children=True) + sum(
        process_seconds(child) for child in _children(postmaster)
    )


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / _TICKS


def _pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU seconds at one moment."""

    machine: float
    kafka: float
    postgres: float


def snapshot() -> CpuSnapshot:
    """The machine's busy time and the local Kafka's and Postgres's CPU so far (0 when not found)."""
    kafka = _pid_from(KAFKA_PID_FILE)
    postmaster = _pid_from(POSTMASTER_PID_FILE)
    return CpuSnapshot(
        machine=machine_busy_seconds(),
        kafka=process_seconds(kafka) if kafka else 0.0,
        postgres=postgres_seconds(postmaster) if postmaster else 0.0,
    )


def shares(before: CpuSnapshot, after: CpuSnapshot, own: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds between two snapshots: `own` (the run's processes, measured by the caller), Kafka,
    Postgres, everything else on the machine, and the machine's total busy time."""
    machine = after.machine - before.machine
    kafka = after.kafka - before.kafka
    postgres = after.postgres - before.postgres
    figures = {name: round(seconds, 1) for name, seconds in own.items()}
    figures["kafka"] = round(kafka, 1)
    figures["postgres"] = round(postgres, 1)
    figures["other"] = round(max(0.0, machine - kafka - postgres - sum(own.values())), 1)
    figures["machine_busy"] = round(machine, 1)
    return figures
