"""The runtime packages (what the gateway and the workers import) never import the tooling packages.

Two checks: every module of app/, ingest/, workers/ and jiesu/ is read with ast, so an import anywhere — at
module level or inside a function that a test never calls — is caught; and the entry points are imported in a
fresh interpreter, so nothing reaches the tooling (or the training-only libraries of the `train` extra) by a
path ast cannot see, such as a third-party module importing back.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.settings import REPO_ROOT

RUNTIME_PACKAGES = ("app", "ingest", "workers", "jiesu")
TOOLING_PACKAGES = frozenset({"judgement_lab", "loadtest"})
# The `train` extra of pyproject.toml: installed for tooling, absent from the service image.
TRAINING_LIBRARIES = frozenset({"sklearn", "jax", "optax", "onnx"})
ENTRY_POINTS = ("app.main", "app.__main__", "workers.__main__", "workers.rollups.__main__", "jiesu.__main__")


def imported_top_levels(source: str) -> set[str]:
    """The top-level package of every absolute import in `source` (relative imports stay in their package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def runtime_modules() -> list[Path]:
    return sorted(path for package in RUNTIME_PACKAGES for path in (REPO_ROOT / package).rglob("*.py"))


def test_the_scan_sees_imports_inside_functions() -> None:
    source = "import os\n\ndef f():\n    from judgement_lab.dataset import read\n    import loadtest.bench\n"
    assert imported_top_levels(source) == {"os", "judgement_lab", "loadtest"}


def test_every_runtime_package_is_scanned() -> None:
    scanned = {path.relative_to(REPO_ROOT).parts[0] for path in runtime_modules()}
    assert scanned == set(RUNTIME_PACKAGES)


@pytest.mark.parametrize("path", runtime_modules(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_runtime_module_imports_no_tooling(path: Path) -> None:
    wrong = imported_top_levels(path.read_text(encoding="utf-8")) & (TOOLING_PACKAGES | TRAINING_LIBRARIES)
    assert not wrong, f"{path.relative_to(REPO_ROOT)} imports {sorted(wrong)}: runtime code must not"


def test_entry_points_load_no_tooling() -> None:
    forbidden = sorted(TOOLING_PACKAGES | TRAINING_LIBRARIES)
    script = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in ENTRY_POINTS)
        + f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({forbidden!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", f"the entry points loaded {done.stdout.strip()}"
