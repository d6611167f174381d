"""The quick commands of README.md and docs/*.md run as written (tests/docs_commands.toml says which), from a
copy of the repository whose .data/services.env names the test's stack on its own, non-default ports and a
gateway the test started — what a newcomer has after `make services` and `make run` on any ports."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from functools import partial
from pathlib import Path

import httpx
import pytest

from ingest.settings import Settings
from tests.docs_commands import REPO, Command, all_commands, classes, sets_variables
from tests.integration.helpers import free_port, pipeline_processes, wait_until

# A fresh shell knows none of the stack's addresses: the commands must find them in .data/services.env.
_STACK_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "HOST", "PORT")


def _copy_of_the_repository(where: Path, services_env: str) -> Path:
    """The repository's files (linked), with a .data/services.env of its own."""
    root = where / "jiesu"
    root.mkdir(parents=True)
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


def _fill(command: str, placeholders: dict[str, str], seen: dict[str, str]) -> str:
    """`command` with each placeholder replaced by the value of its field in the answers so far."""
    for placeholder, field in placeholders.items():
        if placeholder in command:
            command = command.replace(placeholder, seen[field])
    return command


def _remember(output: str, fields: set[str], seen: dict[str, str]) -> None:
    """Keep the placeholders' fields of a JSON answer."""
    try:
        answer = json.loads(output)
    except ValueError:
        return
    if isinstance(answer, dict):
        seen.update({f: str(answer[f]) for f in fields if f in answer})


def _problem(output: str) -> bool:
    """Whether an answer is an RFC 9457 problem (curl -s exits 0 on any answer)."""
    try:
        answer = json.loads(output)
    except ValueError:
        return True  # every documented curl answers JSON
    return isinstance(answer, dict) and "type" in answer and isinstance(answer.get("status"), int)


@pytest.mark.timeout(300)
async def test_the_quick_commands_of_the_docs_run_as_written(
    stack_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = classes()
    quick = {*cls.run, *cls.run_with_placeholder}
    by_doc: dict[str, list[Command]] = {}
    for c in all_commands()[0]:
        if c.text in quick:
            by_doc.setdefault(c.doc, []).append(c)
    assert {c.text for cs in by_doc.values() for c in cs} == quick
    env = _fresh_env(stack_settings)
    ran = []
    for doc, commands in by_doc.items():
        port = free_port()
        gateway = f"http://127.0.0.1:{port}"
        root = _copy_of_the_repository(
            tmp_path / doc.replace("/", "_"),
            f"KAFKA_BOOTSTRAP_SERVERS={stack_settings.kafka_bootstrap_servers}\n"
            f"DATABASE_URL={stack_settings.database_url}\nJIESU_GATEWAY_URL={gateway}\n",
        )
        with monkeypatch.context() as patch:
            for name, value in cls.gateway_env.get(doc, {}).items():
                patch.setenv(name, value)  # the gateway (and worker) this document's commands expect
            with pipeline_processes(stack_settings, port, workers=1):
                assert await wait_until(partial(_ready, gateway), timeout_s=60), "the gateway did not start"
                ran += await _run_document(commands, root, env, cls.placeholders)
    assert len(ran) == sum(len(cs) for cs in by_doc.values())


async def _run_document(
    commands: list[Command], root: Path, env: dict[str, str], placeholders: dict[str, str]
) -> list[str]:
    """Run one document's quick commands in order, each in its own shell after the variables set before it."""
    prelude, ran = "", []
    seen: dict[str, str] = {}
    for c in commands:
        command = _fill(c.text, placeholders, seen)
        done = await asyncio.to_thread(_bash, f"{prelude}{command}", root, env)
        where = f"{c.doc}:{c.line}: {command}"
        assert done.returncode == 0, f"{where}\n{done.stdout}\n{done.stderr}"
        if sets_variables(command):
            prelude += command + "; "
        if command.startswith("curl"):
            assert not _problem(done.stdout), f"{where}\n{done.stdout}"
        _remember(done.stdout, set(placeholders.values()), seen)
        ran.append(where)
    return ran


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
