"""The two folders have two variables: JIESU_STATE_DIR (the services' state) and JIESU_TRAINING_DATA_DIR
(the reference data set); JIESU_DATA_DIR, which named both, is refused by each reader with a message."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ingest.settings import REPO_ROOT
from judgement_lab import dataset


def _state_dir(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = f"ROOT={REPO_ROOT}; . {REPO_ROOT}/scripts/lib.sh; state_dir"
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_training_data_dir_follows_its_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JIESU_DATA_DIR", raising=False)
    monkeypatch.setenv("JIESU_TRAINING_DATA_DIR", str(tmp_path))
    assert dataset.default_data_dir() == tmp_path


def test_training_data_dir_defaults_to_the_shared_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JIESU_DATA_DIR", raising=False)
    monkeypatch.delenv("JIESU_TRAINING_DATA_DIR", raising=False)
    assert dataset.default_data_dir() == REPO_ROOT.parent / "shared" / "data"


def test_training_data_refuses_the_ambiguous_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JIESU_TRAINING_DATA_DIR", raising=False)
    monkeypatch.setenv("JIESU_DATA_DIR", "/somewhere")
    with pytest.raises(SystemExit, match="JIESU_TRAINING_DATA_DIR"):
        dataset.default_data_dir()


def test_state_dir_follows_its_variable(tmp_path: Path) -> None:
    done = _state_dir({"PATH": "/usr/bin:/bin", "JIESU_STATE_DIR": str(tmp_path)})
    assert (done.returncode, done.stdout.strip()) == (0, str(tmp_path))


def test_state_dir_defaults_to_dot_data() -> None:
    done = _state_dir({"PATH": "/usr/bin:/bin"})
    assert (done.returncode, done.stdout.strip()) == (0, str(REPO_ROOT / ".data"))


def test_state_dir_refuses_the_ambiguous_variable() -> None:
    done = _state_dir({"PATH": "/usr/bin:/bin", "JIESU_DATA_DIR": "/somewhere"})
    assert done.returncode == 2
    assert "JIESU_STATE_DIR" in done.stderr
