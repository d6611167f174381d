"""Debian's `chromium`, headless, driven over the DevTools protocol: load a page, run JavaScript in it, take a
screenshot. For the dashboard's test (tests/integration/test_dashboard.py); no browser download, no driver.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """The installed chromium, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class PageError(RuntimeError):
    """The page's JavaScript threw, or the browser refused a command."""


class Page:
    """One tab, spoken to over its DevTools web socket."""

    def __init__(self, socket: websockets.ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its answer (events that come before it are skipped)."""
        command_id = next(self._ids)
        await self._socket.send(orjson.dumps({"id": command_id, "method": method, "params": params}).decode())
        while True:
            message = orjson.loads(await self._socket.recv())
            if message.get("id") != command_id:
                continue
            if "error" in message:
                raise PageError(f"{method}: {message['error']}")
            result: dict[str, Any] = message["result"]
            return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise PageError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float = 20.0) -> Any:
        """Poll `expression` until it is truthy; its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} still false after {timeout_s} s")
            await asyncio.sleep(0.2)

    async def before_each_document(self, script: str) -> None:
        """Run `script` in every document this tab loads, before the page's own scripts."""
        await self.send("Page.addScriptToEvaluateOnNewDocument", source=script)

    async def goto(self, url: str) -> None:
        """Navigate and wait for the document to load."""
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    async def screenshot(self, path: Path) -> None:
        """A PNG of the whole page."""
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


def _active_port(profile: Path) -> int | None:
    active = profile / "DevToolsActivePort"
    text = active.read_text() if active.exists() else ""
    return int(text.split()[0]) if text.strip() else None


async def _debugging_port(profile: Path, proc: asyncio.subprocess.Process, timeout_s: float) -> int:
    """The port chromium chose (it writes it to DevToolsActivePort in its profile)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode} before it listened")
        port = await asyncio.to_thread(_active_port, profile)
        if port is not None:
            return port
        await asyncio.sleep(0.1)
    raise TimeoutError("chromium did not open its DevTools port")


@asynccontextmanager
async def headless_page(width: int = 1600, height: int = 1000) -> AsyncIterator[Page]:
    """A fresh headless chromium (its own temporary profile) and its one tab."""
    binary = chromium_path()
    if binary is None:
        raise RuntimeError("chromium is not installed")
    # Chromium's helper processes can still be writing to the profile as the browser exits.
    with tempfile.TemporaryDirectory(prefix="jiesu-chromium-", ignore_cleanup_errors=True) as profile_dir:
        profile = Path(profile_dir)
        proc = await asyncio.create_subprocess_exec(
            binary,
            "--headless=new",
            "--no-sandbox",  # root in a container has no user namespace for the sandbox
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--lang=zh-CN",
            f"--window-size={width},{height}",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: its helpers are ended with it
            stderr=subprocess.DEVNULL,
        )
        try:
            port = await _debugging_port(profile, proc, 30.0)
            async with httpx.AsyncClient(timeout=5) as http:
                targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
            tab = next(t for t in targets if t.get("type") == "page")
            async with websockets.connect(tab["webSocketDebuggerUrl"], max_size=None) as socket:
                page = Page(socket)
                await page.send("Page.enable")
                await page.send(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                yield page
        finally:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # helpers left in the browser's own group
