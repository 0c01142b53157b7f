"""The live risk monitor's page in a real browser: headless Chromium driven over the DevTools protocol loads the
page once, and each snapshot published afterwards shows up without a reload (figures, snapshot id, the chart's
points, an anomaly, an open alert); the page says when it waits for the first snapshot and when it is stale.
The screenshot is kept as ``var/ui/monitor_live_page.png``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from risk_platform.monitor.page import LivePage
from tests.browser import Page
from tests.monitor_snapshots import anomaly, open_alert, sample_snapshot

pytestmark = pytest.mark.integration

SCREENSHOT = Path(__file__).resolve().parents[2] / "var" / "ui" / "monitor_live_page.png"
# (snapshot id, seconds after the first price update, VaR 99 in USD, what the page shows for it)
UPDATES = [(1, 0, 2_000_000.0, "$2.00m"), (2, 30, 2_120_000.0, "$2.12m"), (3, 60, 2_050_000.0, "$2.05m"),
           (4, 90, 2_310_000.0, "$2.31m"), (5, 120, 2_640_000.0, "$2.64m")]


@pytest.fixture
def live() -> Iterator[LivePage]:
    server = LivePage()
    server.stale_after_s = 3.0  # the banner's threshold (10 s by default), short for the test
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tab() -> Iterator[Page]:
    browser_tab = Page.open()  # skips when Chromium is not installed
    try:
        yield browser_tab
    finally:
        browser_tab.close()


def text(tab: Page, element: str) -> str:
    return tab.evaluate(f"document.getElementById('{element}').textContent.trim()")


def test_published_snapshots_show_up_on_the_open_page_without_a_reload(live, tab):
    tab.goto(live.url)
    tab.wait_for("window.livePage && window.livePage.polls > 1")
    assert tab.evaluate("!document.getElementById('waiting').hidden")
    assert text(tab, "var99") == "—" and text(tab, "snapshot-id") == "—" and text(tab, "last-update") == "never"
    loaded = tab.evaluate("[window.livePage.token, performance.timeOrigin]")

    for snapshot_id, seconds, var_99, shown in UPDATES:
        live.publish(sample_snapshot(
            snapshot_id, seconds, var_99=var_99, loss_so_far_usd=150_000.0 + 40_000.0 * snapshot_id,
            anomalies=[anomaly(seconds)] if snapshot_id == 4 else None,
            alerts_open=[open_alert(seconds)] if snapshot_id == 5 else None))
        tab.wait_for(f"document.getElementById('snapshot-id').textContent === '{snapshot_id}'"
                     f" && document.getElementById('var99').textContent === '{shown}'", timeout=20)
        assert text(tab, "es99") == f"${var_99 * 1.22 / 1e6:.2f}m"

    assert tab.evaluate("[window.livePage.token, performance.timeOrigin]") == loaded  # the same page, never reloaded
    assert tab.evaluate("window.livePage.renders") == len(UPDATES)  # one render per new snapshot, none per poll
    assert tab.evaluate("document.getElementById('waiting').hidden")
    assert int(tab.evaluate("document.getElementById('history-points').dataset.count")) >= 5
    painted = tab.evaluate("(() => { const c = document.getElementById('history-chart');"
                           " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                           " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()")
    assert painted > 5_000, f"the chart painted {painted} pixels"

    assert text(tab, "loss-so-far") == "$350k" and text(tab, "nav") == "$100m"
    assert tab.evaluate("document.getElementById('card-var99').dataset.status") == "warn"
    assert text(tab, "var99-util") == "106% of limit (warn)"  # 2.64% of NAV against the warn threshold 2.50%
    assert text(tab, "var99-limit") == "· limit 2.50% of NAV ($2.50m)"
    assert text(tab, "es95-util") == "no limit on this figure" and text(tab, "es95-limit") == ""
    alerts = text(tab, "alerts-body")
    assert "var_99_pct_nav" in alerts and "warn" in alerts and "above its warn threshold" in alerts
    anomalies = text(tab, "anomalies-body")
    assert "var_99" in anomalies and "$3.10m" in anomalies and "outside its expected band" in anomalies
    assert "remaining 35%" in text(tab, "horizon") and "historical simulation" in text(tab, "bound-by")
    assert text(tab, "model-versions") == "lstm_vol v3, regime_hmm v2" and text(tab, "latency") == "12.5 ms"
    assert text(tab, "last-update").endswith(" s ago")
    tab.screenshot(SCREENSHOT, full_page=True)
    assert SCREENSHOT.stat().st_size > 20_000

    tab.wait_for("!document.getElementById('stale').hidden", timeout=15)  # no update for more than 3 s
    assert "no update for" in text(tab, "stale")
    live.publish(sample_snapshot(6, 150, var_99=2_200_000.0))
    tab.wait_for("document.getElementById('stale').hidden && document.getElementById('snapshot-id').textContent"
                 " === '6'", timeout=20)
