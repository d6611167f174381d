"""Every shell command of README.md and docs/*.md is classified (tests/docs_commands.toml); the checks that
need no stack run here: `--help` of each program with the options the command uses, and `make -n` of each
long make target. tests/integration/test_docs_commands.py runs the quick ones as written on the real stack."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from tests.docs_commands import REPO, all_commands, classes, commands_of

COMMANDS, UNLABELLED = all_commands()
CLASSES = classes()
CLASSIFIED = CLASSES.all()
# Paths a command names that are not the repository's: a scratch venv, an archive directory, a placeholder.
_NOT_OURS = ("/tmp/", "/backup/", "PATH", "http", "$")
_PATH = re.compile(r"[\w.][\w.-]*(/[\w.-]+)+/?")


def test_every_command_of_the_docs_is_run_or_listed_with_a_reason() -> None:
    assert COMMANDS, "no command found: the extraction is broken"
    unclassified = [f"{c.doc}:{c.line}: {c.text}" for c in COMMANDS if c.text not in CLASSIFIED]
    assert unclassified == [], (
        "classify these in tests/docs_commands.py (RUN, HELP, DRY or LONG with a reason)"
    )
    assert UNLABELLED == [], "label these command blocks ```sh so that their commands are checked"
    assert all(reason.strip() for reason in CLASSES.long.values())


def test_the_lists_name_only_commands_the_docs_still_have() -> None:
    written = {c.text for c in COMMANDS}
    assert sorted(CLASSIFIED - written) == []


def test_extraction_joins_continuations_and_open_quotes_and_drops_comments(
    tmp_path: pytest.TempPathFactory,
) -> None:
    doc = REPO / "docs" / "_extraction_probe.md"
    text = (
        "```sh\n"
        "make run   # a comment\n"
        "# a whole-line comment\n"
        'curl -d \'{"a": 1,\n'
        '  "b": "#not a comment"}\' x\n'
        "python -m x --one \\\n"
        "    --two   # the end\n"
        "```\n"
        '```json\n{"not": "a command"}\n```\n'
        "```\nmake unlabelled\n```\n"
    )
    try:
        doc.write_text(text, encoding="utf-8")
        commands, unlabelled = commands_of(doc)
    finally:
        doc.unlink()
    assert [c.text for c in commands] == [
        "make run",
        'curl -d \'{"a": 1, "b": "#not a comment"}\' x',
        "python -m x --one --two",
    ]
    assert [c.line for c in commands] == [2, 4, 6]
    assert unlabelled == [12]


def test_every_repository_path_a_command_names_exists() -> None:
    missing = []
    for c in COMMANDS:
        for token in shlex.split(c.text.replace("[", " ").replace("]", " ")):
            path = token.split("=", 1)[-1].rstrip(";")
            ours = bool(_PATH.fullmatch(path)) and not any(mark in path for mark in _NOT_OURS)
            # .venv/ and .data/ are what make venv and make services make; the rest is in the repository.
            if ours and not path.startswith((".venv/", ".data/")) and not (REPO / path).exists():
                missing.append(f"{c.doc}:{c.line}: {path}")
    assert missing == []


@pytest.mark.parametrize("program", sorted(set(CLASSES.help.values())))
def test_each_program_documented_with_options_has_them(program: str) -> None:
    done = _run([sys.executable, *program.split(), "--help"])
    written = {
        option
        for text, of in CLASSES.help.items()
        if of == program
        for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", text)
    }
    assert sorted(o for o in written if o not in done.stdout) == []


@pytest.mark.parametrize("command", sorted(CLASSES.dry))
def test_each_long_make_target_expands(command: str) -> None:
    _run(["make", "-n", *shlex.split(command)[1:]])


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """`argv` run in the repository; it must succeed."""
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done
