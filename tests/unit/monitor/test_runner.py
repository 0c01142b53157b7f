"""The monitor loop on the bundled data (non-model methods): snapshots, rejections, the checkpoint a restart
resumes from, positions changes, limits through the alert episodes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from risk_platform.alerts import AlertSink, read_alerts
from risk_platform.monitor.anomaly import AnomalyDetector
from risk_platform.monitor.live import build_live_state, live_config
from risk_platform.monitor.runner import CHECKPOINT, Monitor
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.limits import parse_limits

ASOF = pd.Timestamp("2024-12-27")
CONFIG = live_config(RiskConfig(evaluation_date=pd.Timestamp("2024-12-31")), 1_000)
BOOK = ("portfolio: {{name: live test, nav: 100000000}}\npositions:\n"
        "  - {{symbol: SPX, notional: {spx}, asset_class: equity, sector: US, region: US, avg_daily_volume: 1.0e+11,"
        " bid_ask_bps: 1}}\n"
        "  - {{symbol: UST10Y, notional: 60000000, dv01: 50000, asset_class: rates, sector: Gov, region: US,"
        " avg_daily_volume: 1.0e+11, bid_ask_bps: 1}}\n")
LIMITS = parse_limits({"version": 1, "alert_on": ["breach"], "limits": [
    {"name": "var_99_pct_nav", "family": "var", "metric": "var_99", "scale": "pct_nav", "warn": 0.5, "breach": 1.0,
     "severity": "error"}]})


@pytest.fixture
def monitor_on(tmp_path, market_inputs):
    """A monitor factory on one state folder (a second call is a restart)."""
    book_file = tmp_path / "book.yaml"
    book_file.write_text(BOOK.format(spx=100_000_000))

    def load():
        return load_portfolio(book_file, market_inputs.instruments)

    def refresh(asof, book, next_close):
        return build_live_state(book, market_inputs, asof, CONFIG, None, "21:00", next_close)

    def make(sink: AlertSink | None = None, **options) -> Monitor:
        monitor = Monitor(refresh, load(), load, book_file, LIMITS, sink or AlertSink(tmp_path / "alerts.jsonl"),
                          tmp_path / "monitor", detector=AnomalyDetector(), **options)
        monitor.start(ASOF)
        return monitor

    return make, book_file, tmp_path


def update(monitor: Monitor, minutes: int, **prices) -> dict | None:
    when = monitor.state.clock.last_close + pd.Timedelta(minutes=minutes)
    return monitor.handle({"time": when.isoformat(), "prices": prices, "source": f"test +{minutes}m"})


def test_each_update_publishes_a_snapshot_and_a_bad_one_keeps_the_state(monitor_on):
    make, _, _ = monitor_on
    monitor = make()
    spx = float(monitor.state.close_prices()["SPX"])
    first = update(monitor, 60, SPX=spx * 0.99)
    assert first["snapshot_id"] == 1 and first["loss_so_far_usd"] == pytest.approx(1_000_000, rel=1e-9)
    assert first["var_99"] > first["loss_so_far_usd"] > 0 and first["latency_ms"] > 0
    assert first["bound_by"]["var_99"] and "sqrt" in first["horizon"]["statement"]
    assert update(monitor, 61, SPX="n/a") is None
    assert update(monitor, 30, SPX=spx) is None  # before the last update
    assert update(monitor, 62, XYZ=1.0) is None
    assert len(monitor.rejected) == 3 and "XYZ" in monitor.rejected[-1]
    second = update(monitor, 63, UST10Y=float(monitor.state.close_prices()["UST10Y"]))
    assert second["snapshot_id"] == 2 and second["loss_so_far_usd"] == pytest.approx(first["loss_so_far_usd"])
    summary = monitor.summary()
    assert (summary["published"], summary["rejected"], summary["updates"]) == (2, 3, 5)
    monitor.close()


def test_a_restarted_monitor_goes_on_from_its_last_snapshot(monitor_on):
    make, _, tmp_path = monitor_on
    monitor = make()
    spx = float(monitor.state.close_prices()["SPX"])
    update(monitor, 10, SPX=spx * 1.02)
    last = update(monitor, 20, UST10Y=float(monitor.state.close_prices()["UST10Y"]) + 0.05)
    monitor.close()  # (a SIGKILL leaves the same checkpoint: it is rewritten atomically after every snapshot)
    saved = json.loads((tmp_path / "monitor" / CHECKPOINT).read_text())
    assert saved["snapshot_id"] == 2 and saved["snapshot"]["snapshot_id"] == 2
    again = make()
    assert again.seq == 2 and again.live["SPX"] == pytest.approx(spx * 1.02)
    assert any("restarted from snapshot 2" in r for r in again.refreshes)
    resumed = update(again, 30, SPX=spx * 1.02)
    assert resumed["snapshot_id"] == 3 and resumed["loss_so_far_usd"] == pytest.approx(last["loss_so_far_usd"])
    again.close()


def test_a_positions_change_refreshes_and_a_bad_file_keeps_the_previous_book(monitor_on):
    make, book_file, _ = monitor_on
    monitor = make()
    before = update(monitor, 10, SPX=float(monitor.state.close_prices()["SPX"]))
    book_file.write_text(BOOK.format(spx=200_000_000))
    bigger = update(monitor, 20, SPX=float(monitor.state.close_prices()["SPX"]))
    assert any(r.startswith("positions changed") for r in monitor.refreshes)
    assert bigger["var_99"] > before["var_99"]
    book_file.write_text("positions: [{symbol: NOPE, notional: 1}]\n")
    kept = update(monitor, 30, SPX=float(monitor.state.close_prices()["SPX"]))
    assert kept is not None and kept["var_99_1d_live"] == pytest.approx(bigger["var_99_1d_live"], rel=1e-9)
    assert "positions file change rejected" in monitor.rejected[-1]
    monitor.close()


def test_a_breach_opens_one_alert_episode_in_the_shared_log(monitor_on):
    make, _, tmp_path = monitor_on
    monitor = make()
    spx = float(monitor.state.close_prices()["SPX"])
    snapshots = [update(monitor, 10 * i, SPX=spx * (1 - 0.001 * i)) for i in range(1, 4)]
    statuses = [next(r["status"] for r in s["limits"] if r["limit"] == "var_99_pct_nav") for s in snapshots]
    assert statuses == ["breach"] * 3  # VaR 99 of the day > 1% of a NAV of 100m
    records = read_alerts(tmp_path / "alerts.jsonl")
    assert [(r["limit"], r["event"]) for r in records] == [("var_99_pct_nav", "opened")]  # then suppressed
    assert snapshots[-1]["alerts_open"][0]["limit"] == "var_99_pct_nav"
    assert Path(tmp_path / "alerts.jsonl").read_text().count("\n") == 1
    monitor.close()


def test_a_registry_that_does_not_answer_gives_the_non_model_methods_with_the_reason(monkeypatch, market_inputs,
                                                                                   tmp_path):
    import socket

    from risk_platform.models.registry import ModelRegistry
    from risk_platform.monitor.app import alias_reader, model_reader

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        registry = ModelRegistry(f"http://127.0.0.1:{probe.getsockname()[1]}")
    book_file = tmp_path / "book.yaml"
    book_file.write_text(BOOK.format(spx=100_000_000))
    book = load_portfolio(book_file, market_inputs.instruments)
    state = build_live_state(book, market_inputs, ASOF, CONFIG, model_reader(registry, market_inputs))
    assert state.models.inputs == () and state.models.status.startswith("model registry unavailable")
    assert state.models.status.endswith("non-model methods only")
    live = state.revalue({}, state.clock.last_close)
    assert "historical" in live.methods and not any("[" in name for name in live.methods)  # no model method
    assert "registry_error" in alias_reader(registry)()


def test_an_alert_the_webhook_missed_is_sent_once_when_it_is_back(monitor_on, tmp_path):
    import http.server
    import threading
    import time

    from risk_platform.monitor.app import _alert_delivery

    received, answers = [], [503]

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = answers.pop(0) if answers else 200
            if status == 200:
                received.extend(body["alerts"])
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        make, _, folder = monitor_on
        sink = AlertSink(folder / "alerts.jsonl", f"http://127.0.0.1:{server.server_address[1]}/hook")
        monitor = make(sink, deliver_alerts=_alert_delivery(sink, folder / "monitor"))
        spx = float(monitor.state.close_prices()["SPX"])
        update(monitor, 10, SPX=spx * 0.99)  # opens the VaR episode: the webhook answers 503, the alert is spooled
        assert received == [] and len(read_alerts(folder / "alerts.jsonl")) == 1
        time.sleep(1.1)  # the back-off's first wait
        update(monitor, 20, SPX=spx * 0.99)  # nothing new to alert (suppressed): the spooled one is re-sent
        update(monitor, 30, SPX=spx * 0.99)
        assert [(a["limit"], a["event"]) for a in received] == [("var_99_pct_nav", "opened")]
        monitor.close()
    finally:
        server.shutdown()


def test_new_market_data_roll_the_live_monitor_to_their_last_close(tmp_path, market_inputs):
    """The prices changing on disk (the daily pipeline's delivery): reloaded and refreshed in the background, the
    state rolls to the new last date, the live prices start again from its close."""
    from dataclasses import replace

    from risk_platform.monitor.app import LiveInputs

    def upto(day: str):
        cut = pd.Timestamp(day)
        return replace(market_inputs, panel=market_inputs.panel[market_inputs.panel["date"] <= cut],
                       returns=market_inputs.returns[market_inputs.returns["date"] <= cut])

    prices = tmp_path / "prices.csv"
    prices.write_text("old delivery\n")
    book_file = tmp_path / "book.yaml"
    book_file.write_text(BOOK.format(spx=100_000_000))
    book = load_portfolio(book_file, market_inputs.instruments)
    inputs = LiveInputs(upto("2024-12-20"), CONFIG, "21:00", load_inputs=lambda: upto("2024-12-31"),
                        prices_path=prices)
    monitor = Monitor(inputs.refresh, book, lambda: book, book_file, LIMITS, AlertSink(tmp_path / "alerts.jsonl"),
                      tmp_path / "monitor", market_stamp=inputs.stamp, reload_market=inputs.reload)
    monitor.start()
    assert monitor.state.asof == pd.Timestamp("2024-12-20")
    assert update(monitor, 5, SPX=6000.0)["asof"] == "2024-12-20"
    prices.write_text("new delivery, through 2024-12-31\n")
    update(monitor, 10, SPX=6001.0)  # sees the change: the refresh starts in the background
    monitor._pending.result(timeout=120)
    rolled = update(monitor, 15, SPX=6002.0)
    assert rolled["asof"] == "2024-12-31" and monitor.state.asof == pd.Timestamp("2024-12-31")
    assert any(r.startswith("new market data: as of 2024-12-31") for r in monitor.refreshes)
    assert monitor.live == {"SPX": 6002.0} and monitor.rolls == 1
    monitor.close()


def test_a_replay_rolls_at_its_closes_even_when_the_updates_carrying_them_are_rejected(monitor_on):
    make, _, _ = monitor_on
    monitor = make()  # the close of Friday 2024-12-27; the session ends Monday 2024-12-30 21:00 UTC
    spx = float(monitor.state.close_prices()["SPX"])
    first = {"time": "2024-12-30T03:00:00Z", "prices": {"XYZ": 1.0}, "source": "day's first",
             "prepare_close": "2024-12-30", "next_close": "2024-12-31"}
    assert monitor.handle(first) is None  # rejected, but the roll to Monday's close is prepared
    before = monitor.handle({"time": "2024-12-30T21:00:00Z", "prices": {"SPX": spx}, "source": "close",
                             "close_of": "2024-12-30", "next_close": "2024-12-31"})
    assert before["asof"] == "2024-12-27"  # not before Monday's close has passed
    after = monitor.handle({"time": "2024-12-31T03:00:00Z", "prices": {"SPX": spx}, "source": "next day"})
    assert after["asof"] == "2024-12-30" and monitor.rolls == 1
    assert after["horizon"]["next_close"].startswith("2024-12-31T21:00")
    monitor.close()
