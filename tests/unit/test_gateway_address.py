"""The gateway's address in one place: make run / make up record it, the simulator finds it."""

import os
import subprocess
from pathlib import Path

import pytest

from loadtest.config import default_target, service_address

ROOT = Path(__file__).resolve().parents[2]


def _gateway_env(env_file: Path, *args: str) -> None:
    env = {**os.environ, "JIESU_SERVICES_ENV": str(env_file)}
    subprocess.run([str(ROOT / "scripts" / "gateway_env.sh"), *args], check=True, env=env)


def test_the_gateway_line_is_set_replaced_and_removed_beside_the_services(tmp_path: Path) -> None:
    env_file = tmp_path / "services.env"
    env_file.write_text("KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:29092\n")
    _gateway_env(env_file, "set", "0.0.0.0", "8123")
    _gateway_env(env_file, "set", "127.0.0.1", "8124")
    assert env_file.read_text().splitlines() == [
        "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:29092",
        "JIESU_GATEWAY_URL=http://127.0.0.1:8124",
    ]
    _gateway_env(env_file, "unset")
    assert env_file.read_text().splitlines() == ["KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:29092"]


def test_make_up_records_the_workers_metrics_beside_the_gateway_and_takes_both_out(tmp_path: Path) -> None:
    env_file = tmp_path / "services.env"
    env_file.write_text("DATABASE_URL=postgresql://x\n")
    urls = "http://127.0.0.1:9101/metrics,http://127.0.0.1:9102/metrics"
    _gateway_env(env_file, "set", "127.0.0.1", "8123", urls)
    assert service_address("JIESU_WORKER_METRICS_URLS", env_file) == urls
    _gateway_env(env_file, "set", "127.0.0.1", "8124")  # make run: no worker metrics of its own
    assert env_file.read_text().splitlines() == [
        "DATABASE_URL=postgresql://x",
        "JIESU_GATEWAY_URL=http://127.0.0.1:8124",
    ]
    _gateway_env(env_file, "set", "127.0.0.1", "8123", urls)
    _gateway_env(env_file, "unset")
    assert env_file.read_text().splitlines() == ["DATABASE_URL=postgresql://x"]


def test_the_simulator_targets_the_recorded_gateway_else_host_and_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JIESU_GATEWAY_URL", "HOST", "JIESU_HOST", "PORT", "JIESU_PORT"):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / "services.env"
    assert default_target(env_file) == "http://127.0.0.1:8000"
    monkeypatch.setenv("PORT", "8200")
    monkeypatch.setenv("HOST", "0.0.0.0")
    assert default_target(env_file) == "http://127.0.0.1:8200"
    env_file.write_text("DATABASE_URL=postgresql://x\nJIESU_GATEWAY_URL=http://127.0.0.1:8300\n")
    assert default_target(env_file) == "http://127.0.0.1:8300"
    monkeypatch.setenv("JIESU_GATEWAY_URL", "http://127.0.0.1:8400")
    assert default_target(env_file) == "http://127.0.0.1:8400"
