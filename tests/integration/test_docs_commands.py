"""The quick commands of README.md and docs/*.md run as written (tests/docs_commands.toml says which), from a
copy of the repository whose .data/services.env names the test's stack on its own, non-default ports and a
gateway the test started — what a newcomer has after `make services` and `make run` on any ports."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from ingest.settings import Settings
from tests.docs_commands import REPO, Command, all_commands, classes
from tests.integration.helpers import free_port, pipeline_processes, wait_until

# A fresh shell knows none of the stack's addresses: the commands must find them in .data/services.env.
_STACK_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "HOST", "PORT")


def _copy_of_the_repository(tmp_path: Path, services_env: str) -> Path:
    """The repository's files (linked), with a .data/services.env of its own."""
    root = tmp_path / "jiesu"
    root.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in (".data", ".git"):
            (root / entry.name).symlink_to(entry)
    (root / ".data").mkdir()
    (root / ".data" / "services.env").write_text(services_env)
    return root


def _fresh_env(settings: Settings) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _STACK_VARIABLES and not k.upper().startswith("JIESU_")
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    # The stack's own ports, as a newcomer who followed the README's port table would have set them.
    env["KAFKA_PORT"] = settings.kafka_bootstrap_servers.rsplit(":", 1)[1]
    env["PG_PORT"] = settings.database_url.rsplit(":", 1)[1].split("/", 1)[0]
    return env


def _fill(command: str, placeholders: dict[str, str], previous_output: str) -> str:
    """`command` with each placeholder replaced by that field of the previous command's JSON output."""
    for placeholder, field in placeholders.items():
        if placeholder in command:
            command = command.replace(placeholder, json.loads(previous_output)[field])
    return command


@pytest.mark.timeout(240)
async def test_the_quick_commands_of_the_docs_run_as_written(
    stack_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    root = _copy_of_the_repository(
        tmp_path,
        f"KAFKA_BOOTSTRAP_SERVERS={stack_settings.kafka_bootstrap_servers}\n"
        f"DATABASE_URL={stack_settings.database_url}\nJIESU_GATEWAY_URL={gateway}\n",
    )
    env = _fresh_env(stack_settings)
    cls = classes()
    commands, _ = all_commands()
    by_doc: dict[str, list[Command]] = {}
    for c in commands:
        if c.text in cls.run or c.text in cls.run_with_placeholder:
            by_doc.setdefault(c.doc, []).append(c)
    assert sum(len(v) for v in by_doc.values()) >= len(cls.run) + len(cls.run_with_placeholder)

    ran: list[str] = []
    with pipeline_processes(stack_settings, port, workers=0):
        assert await wait_until(lambda: _ready(gateway), timeout_s=60), "the gateway did not start"
        for doc, cs in by_doc.items():
            prelude, output = "", ""
            for c in cs:
                command = _fill(c.text, cls.placeholders, output)
                done = await asyncio.to_thread(_bash, f"{prelude}{command}", root, env)
                assert done.returncode == 0, f"{doc}:{c.line}: {command}\n{done.stdout}\n{done.stderr}"
                if command.startswith("set -a"):
                    prelude += command + "; "
                output = done.stdout
                if command.startswith("curl"):
                    # curl -s exits 0 on any answer: what came back must be the API's, not a problem.
                    answer = json.loads(output)
                    assert "ticket_id" in answer and "type" not in answer, f"{doc}:{c.line}: {output}"
                ran.append(f"{doc}:{c.line}")
    assert len(ran) == sum(len(v) for v in by_doc.values())


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False
