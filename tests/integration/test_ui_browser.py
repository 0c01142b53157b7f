"""The Dagster UI in a real browser: the webserver on 127.0.0.1 and a free port (embedded instance in a temp
DAGSTER_HOME, ``-w workspace.yaml``), pages rendered by headless Chromium (the React app renders client-side:
``--dump-dom`` after a virtual-time budget returns the rendered DOM), screenshots kept under ``var/ui/``.
CI installs Chromium before ``make test`` (``.ci/run`` -> ``make system-deps``), so there this test never skips.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "ui"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--window-size=1600,1000"]
LOCATION_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def chromium_binary() -> str | None:
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for path in map(shutil.which, names) if path), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (the webserver and its code server), SIGKILL after 3 s: the
    instance is a throwaway, a graceful shutdown of both (10-15 s on a busy machine) buys nothing."""
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
        process.poll()  # reap the webserver so that the group can empty
        time.sleep(0.2)
    if group_alive():
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_until_loaded(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    """Until the webserver answers and the code location is loaded (the first load imports torch & co)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            reply = requests.post(f"{url}/graphql", json={"query": LOCATION_QUERY}, timeout=5)
            entries = reply.json()["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e["locationOrLoadError"] for e in entries if e["locationOrLoadError"]["__typename"]
                          == "PythonError"]
                assert not errors, f"code location failed to load: {errors}"
                return
        except (requests.RequestException, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def webserver(tmp_path_factory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "resources" / "instance" / "embedded.yaml", home / "dagster.yaml")
    port = free_port()
    log = home / "webserver.log"
    env = {**os.environ, "DAGSTER_HOME": str(home), "RISK_PLATFORM_ENV": "embedded"}
    command = [str(Path(sys.executable).with_name("dagster-webserver")), "-h", "127.0.0.1", "-p", str(port),
               "-w", str(REPO / "workspace.yaml")]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_loaded(url, process, log)
        yield url
    finally:
        stop(process)


def render(url: str, expected: set[str], screenshot: Path | None = None) -> str:
    """The DOM of ``url`` once it shows every ``expected`` label, and optionally a screenshot (written
    atomically). Network waits do not consume virtual time, but the graph layout runs in a web worker: on a
    busy machine a second try with a longer budget keeps the test from flaking."""
    for budget in (8_000, 25_000):
        dom = render_once(url, budget, screenshot)
        if expected <= labels(dom):
            break
    return dom


def render_once(url: str, budget_ms: int, screenshot: Path | None) -> str:
    browser = chromium_binary()
    if browser is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium; CI does: make system-deps)")
    with tempfile.TemporaryDirectory(prefix="risk-platform-chromium-") as profile:
        command = [browser, *CHROMIUM_FLAGS, f"--virtual-time-budget={budget_ms}", f"--user-data-dir={profile}",
                   "--dump-dom"]
        if screenshot is not None:
            shot = Path(profile) / "screenshot.png"
            command.append(f"--screenshot={shot}")
        done = subprocess.run([*command, url], capture_output=True, text=True, timeout=90, cwd=profile)
        assert done.returncode == 0, f"chromium failed on {url}: {done.stderr[-2000:]}"
        if screenshot is not None:
            assert shot.exists() and shot.stat().st_size > 10_000, f"no screenshot of {url}: {done.stderr[-2000:]}"
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            tmp = screenshot.with_name(f".{screenshot.name}.{os.getpid()}.tmp")
            shutil.copyfile(shot, tmp)
            os.replace(tmp, screenshot)
    return done.stdout


def graph_url(base: str, group: str, selected: str) -> str:
    """The asset lineage graph of one group with one asset selected (its details, checks included, beside it)."""
    selection = quote(f'group:"{group}"')
    return f"{base}/asset-groups~{selection}/{selected}"


def labels(dom: str) -> set[str]:
    return set(re.findall(r">([A-Za-z0-9_]+)<", dom))


def test_the_asset_graph_shows_the_risk_assets_and_their_checks(webserver):
    risk = {"portfolio", "portfolio_risk", "all_positions_valued"}
    dom = render(graph_url(webserver, "risk", "portfolio_risk"), risk, SCREENSHOTS / "asset_graph.png")
    assert "Global asset lineage" in dom
    assert risk <= labels(dom)
    assert "checkDetail=all_positions_valued" in dom  # the check links to its history

    ingestion = {"raw_prices", "market_panel", "missing_data_gate"}
    dom = render(graph_url(webserver, "ingestion", "market_panel"), ingestion, SCREENSHOTS / "market_panel_gate.png")
    assert ingestion <= labels(dom)
