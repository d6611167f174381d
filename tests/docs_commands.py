"""The shell commands of README.md and docs/*.md, and what the tests do with each.

Every command in a fenced `sh` / `bash` / `shell` / `console` block is one entry (a line; a trailing
backslash or an open quote joins the next; a comment is cut off). tests/docs_commands.toml classifies each,
by its exact text, as one of:
- run: quick, run as written (from a copy of the repository whose .data/services.env points at the test's
  stack, on its non-default ports), some with a placeholder the reader copies from the output before;
- help: a program with options: `--help` is run instead and every option the command writes must be in it;
- dry: a make target that starts servers or takes minutes: `make -n` of it must succeed;
- long: not run, with the reason.
A new command in the docs that is none of these fails tests/unit/test_docs_commands.py.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHELL_LANGS = frozenset({"sh", "bash", "shell", "console"})
# An unlabelled block that starts like a command is a command block without its label.
_COMMAND_START = re.compile(r"^(make|\.venv/|python|pytest|curl|scripts/|set -a|[A-Z_]+=\S+ )")


@dataclass(frozen=True)
class Command:
    """One command of the docs: where it is and its text (continuations joined, comment cut off)."""

    doc: str
    line: int
    text: str


def docs() -> list[Path]:
    """README.md and docs/*.md."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _strip_comment(line: str) -> str:
    """`line` without a trailing `# …` outside quotes."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _complete(text: str) -> bool:
    """Whether `text` is a whole command: no open quote, no trailing backslash."""
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text)
    except ValueError:
        return False
    return True


def commands_of(path: Path) -> tuple[list[Command], list[int]]:
    """The commands of one document, and the lines of unlabelled blocks that look like commands."""
    commands: list[Command] = []
    unlabelled: list[int] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    name = str(path.relative_to(REPO))
    i = 0
    while i < len(lines):
        fence = lines[i].strip()
        if not fence.startswith("```"):
            i += 1
            continue
        lang, body_start = fence[3:].strip(), i + 1
        end = next(j for j in range(body_start, len(lines)) if lines[j].strip().startswith("```"))
        body = lines[body_start:end]
        if not lang and any(_COMMAND_START.match(b.strip()) for b in body):
            unlabelled.append(body_start)
        if lang in SHELL_LANGS:
            commands += _split(name, body_start, body)
        i = end + 1
    return commands, unlabelled


def _split(doc: str, first: int, body: list[str]) -> list[Command]:
    out: list[Command] = []
    pending, start = "", 0
    for n, raw in enumerate(body, first + 1):
        if not pending:
            text = _strip_comment(raw.strip())
            if not text:
                continue
            pending, start = text, n
        else:  # a continuation: inside an open quote the line is kept as it is
            pending = pending.removesuffix("\\").rstrip() + " " + _strip_comment(raw.strip())
        if _complete(pending):
            out.append(Command(doc, start, " ".join(pending.split())))
            pending = ""
    if pending:
        out.append(Command(doc, start, " ".join(pending.split())))
    return out


def all_commands() -> tuple[list[Command], list[str]]:
    """Every command of the docs, and where an unlabelled block looks like commands."""
    commands: list[Command] = []
    unlabelled: list[str] = []
    for path in docs():
        found, blocks = commands_of(path)
        commands += found
        unlabelled += [f"{path.relative_to(REPO)}:{line}" for line in blocks]
    return commands, unlabelled


@dataclass(frozen=True)
class Classes:
    """What tests/docs_commands.toml says to do with each command."""

    run: tuple[str, ...]
    placeholders: dict[str, str]
    run_with_placeholder: tuple[str, ...]
    help: dict[str, str]
    dry: tuple[str, ...]
    long: dict[str, str]
    gateway_env: dict[str, dict[str, str]]

    def all(self) -> set[str]:
        """Every command classified."""
        return {*self.run, *self.run_with_placeholder, *self.help, *self.dry, *self.long}


def classes() -> Classes:
    """The classification, read from tests/docs_commands.toml."""
    data = tomllib.loads((Path(__file__).parent / "docs_commands.toml").read_text(encoding="utf-8"))
    return Classes(
        run=tuple(data["run"]),
        placeholders=data["placeholders"],
        run_with_placeholder=tuple(data["run_with_placeholder"]["commands"]),
        help=data["help"],
        dry=tuple(data["dry"]["commands"]),
        long=data["long"],
        gateway_env=data.get("gateway_env", {}),
    )


_ASSIGNMENTS = re.compile(r"(\w+=\S+\s*)+")


def sets_variables(command: str) -> bool:
    """Whether `command` only sets variables for the commands after it (`set -a; . f; set +a`, `A=1 B=2`)."""
    return command.startswith("set -a") or bool(_ASSIGNMENTS.fullmatch(command))
