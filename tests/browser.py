"""Headless Chromium for the browser tests: the flags, the binary, and :class:`Page`, one tab driven over the
DevTools protocol (``--remote-debugging-port=0``, the ``websockets`` sync client)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from risk_platform.io import atomic_write

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--window-size=1600,1000"]
NO_CHROMIUM = "headless Chromium not installed (apt-get install chromium; CI does: make system-deps)"


def chromium_binary() -> str | None:
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for path in map(shutil.which, names) if path), None)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process's group (a server and its children, or a browser and its helpers), SIGKILL after
    3 s: the processes are throwaways, a graceful shutdown (10-15 s on a busy machine) buys nothing."""
    def group_alive() -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    if group_alive():
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while group_alive() and time.monotonic() < deadline:
        process.poll()  # reap the leader so that the group can empty
        time.sleep(0.2)
    if group_alive():
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


class Page:
    """One headless Chromium tab driven over the DevTools protocol (a real browser a test can click in): start it
    with :meth:`open`, then :meth:`goto`, :meth:`wait_for` a JavaScript condition, :meth:`evaluate` and
    :meth:`screenshot`."""

    def __init__(self, process: subprocess.Popen, socket_url: str, profile: tempfile.TemporaryDirectory) -> None:
        from websockets.sync.client import connect

        self.process, self.profile = process, profile
        self.socket = connect(socket_url, max_size=64 * 2**20, open_timeout=30)
        self.next_id = 0

    @classmethod
    def open(cls) -> Page:
        """A fresh browser (its own temp profile) on ``about:blank``; skips the test when Chromium is absent."""
        browser = chromium_binary()
        if browser is None:
            pytest.skip(NO_CHROMIUM)
        profile = tempfile.TemporaryDirectory(prefix="risk-platform-chromium-")
        process = subprocess.Popen([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile.name}",
                                    "--remote-debugging-port=0", "about:blank"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
            line = process.stderr.readline()
            if "DevTools listening on" in line:
                port = int(re.search(r"127\.0\.0\.1:(\d+)/", line).group(1))
                break
        else:
            stop(process)
            profile.cleanup()
            pytest.fail("chromium did not open its DevTools port within 60 s")
        tabs = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        return cls(process, next(t["webSocketDebuggerUrl"] for t in tabs if t["type"] == "page"), profile)

    def close(self) -> None:
        self.socket.close()
        stop(self.process)
        self.profile.cleanup()

    def call(self, method: str, **params: Any) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == self.next_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for(self, condition: str, timeout: float = 60) -> None:
        """Until the JavaScript ``condition`` is true in the page (an app renders after its queries)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(f"Boolean({condition})"):
                return
            time.sleep(0.5)
        text = self.evaluate("document.body ? document.body.innerText.slice(0, 1500) : ''")
        pytest.fail(f"page never satisfied {condition!r} in {timeout:.0f} s; it shows:\n{text}")

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        """A PNG of the viewport (or of the whole page, however long), written atomically."""
        options: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            options.update(captureBeyondViewport=True,
                           clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        png = base64.b64decode(self.call("Page.captureScreenshot", **options)["data"])
        atomic_write(path, lambda tmp: tmp.write_bytes(png))
