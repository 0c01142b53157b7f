"""The Dagster UI in a real browser: the webserver on 127.0.0.1 and a free port (embedded instance in a temp
DAGSTER_HOME, ``-w workspace.yaml``), pages rendered by headless Chromium (the React app renders client-side:
``--dump-dom`` after a virtual-time budget returns the rendered DOM), screenshots kept under ``var/ui/``.
CI installs Chromium before ``make test`` (``.ci/run`` -> ``make system-deps``), so there this test never skips.
"""

from __future__ import annotations

import os
import re
import shutil
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

from tests.browser import CHROMIUM_FLAGS, NO_CHROMIUM, Page, chromium_binary, stop

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "ui"
LOCATION_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


SMALL_JOB = "ingest_and_risk"  # the data and the risk of the main job (no training: the model tests train)
RUN_SMALL_JOB = ("import sys; import dagster as dg; from jobs.launch import run_job;"
                 " instance = dg.DagsterInstance.get();"
                 f" sys.exit(0 if run_job(instance, '{SMALL_JOB}', run_config={{}}, tags={{}}).success else 1)")


@pytest.fixture(scope="module")
def webserver(tmp_path_factory) -> Iterator[str]:
    """The webserver on an instance holding one run of :data:`SMALL_JOB` started as the main job starts its runs
    (:func:`jobs.launch.run_job`: with the workspace code location's origin), its state in a temp folder."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "resources" / "instance" / "embedded.yaml", home / "dagster.yaml")
    port = free_port()
    log = home / "webserver.log"
    env = {**os.environ, "DAGSTER_HOME": str(home), "RISK_PLATFORM_ENV": "embedded",
           "RISK_PLATFORM_VAR": str(tmp_path_factory.mktemp("var"))}
    done = subprocess.run([sys.executable, "-c", RUN_SMALL_JOB], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{SMALL_JOB} failed:\n{done.stderr[-3000:]}"
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
        pytest.skip(NO_CHROMIUM)
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


@pytest.fixture
def page() -> Iterator[Page]:
    tab = Page.open()
    try:
        yield tab
    finally:
        tab.close()


def test_an_operator_sees_the_runs_today_s_risk_with_its_chart_and_the_promotion_check(webserver, page):
    page.goto(f"{webserver}/overview")  # the landing page: the runs the job made, under their job
    page.wait_for("document.body.innerText.includes('ingest_and_risk')")
    assert "No runs or scheduled ticks" not in page.evaluate("document.body.innerText")
    page.screenshot(SCREENSHOTS / "overview.png")

    page.goto(f"{webserver}/assets/portfolio_risk")  # two clicks from the landing page: Catalog, portfolio_risk
    page.wait_for("document.body.innerText.includes('VaR 99% 1-day USD')")
    headline = page.evaluate("[...document.querySelectorAll('td')].map(td => td.innerText)"
                             ".find(t => t.startsWith('VaR 99% 1-day USD'))")
    assert re.fullmatch(r"VaR 99% 1-day USD [\d.]+[km]?, [\d.]+% of NAV, \d+% of limit, bound by .+", headline)
    page.screenshot(SCREENSHOTS / "portfolio_risk.png")
    page.evaluate("[...document.querySelectorAll('tr')].find(r => r.innerText.startsWith('var_against_pnl'))"
                  ".querySelector('a').click()")  # [Show Markdown]: Dagster opens long Markdown in a dialog
    page.wait_for("[...document.querySelectorAll('img')].some(i => i.src.startsWith('data:image/png;base64,')"
                  " && i.naturalWidth > 300)")
    page.screenshot(SCREENSHOTS / "portfolio_risk_var_against_pnl.png")

    page.goto(f"{webserver}/assets/model_promotion?view=checks")  # the promotion's check, named with its status
    page.wait_for("document.body.innerText.includes('promotion_gates')")
    page.screenshot(SCREENSHOTS / "model_promotion_checks.png")
