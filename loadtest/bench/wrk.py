"""Closed-loop saturation with wrk: a Lua script that POSTs prepared bodies, each with a fresh external_id."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ID_MARK = "@ID@"
# Each body carries ID_MARK wherever the run id goes; every request replaces it with a new value, so every
# request is a new submission (and a new ticket) and none is answered from idempotency.
_LUA = """
local bodies = {%(bodies)s}
local n = 0
local thread_id = 0
function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
function init(args)
  tid = tid or 0
end
request = function()
  n = n + 1
  local body = bodies[(n %% #bodies) + 1]
  body = body:gsub("%(mark)s", "w" .. tid .. "n" .. n)
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests: int
    seconds: float
    rps: float
    non_2xx: int
    socket_errors: int
    p50_ms: float | None
    p99_ms: float | None

    @property
    def ok_rps(self) -> float:
        """Successful (2xx) responses per second."""
        return (self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0


def lua_string(text: str) -> str:
    """A Lua long-bracket string literal that holds `text` verbatim."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def write_script(path: Path, url_path: str, bodies: list[str]) -> Path:
    """A wrk Lua script that POSTs `bodies` in turn to `url_path`, replacing ID_MARK per request."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lua = _LUA % {"bodies": ",\n".join(lua_string(b) for b in bodies), "mark": ID_MARK, "path": url_path}
    path.write_text(lua, encoding="utf-8")
    return path


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(output: str) -> WrkResult:
    """Figures from wrk's text output (run with --latency)."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if total is None:
        raise ValueError(f"no request count in wrk output:\n{output}")
    requests, seconds = int(total.group(1)), _ms(total.group(2) + total.group(3)) / 1000
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    pct = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", output, re.M))
    return WrkResult(
        requests=requests,
        seconds=seconds,
        rps=requests / seconds if seconds else 0.0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
        p50_ms=_ms(pct["50"]) if "50" in pct else None,
        p99_ms=_ms(pct["99"]) if "99" in pct else None,
    )


def run(url: str, script: Path, *, seconds: int, connections: int, threads: int = 1) -> WrkResult:
    """Run wrk against `url` (127.0.0.1 only) for `seconds`; the parsed figures."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"wrk is pointed only at 127.0.0.1, not {url}")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian package `wrk`)")
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency", "-s",
         str(script), url],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    )  # fmt: skip
    return parse(out.stdout)
