"""The live monitor end to end, as a user runs it: ``risk-platform monitor --replay`` on the bundled data (COVID,
March 2020) publishing to a real ``redis-server`` and serving its page, opened in headless Chromium while the
updates arrive; the alerts go through the same episode log as the Dagster assets; SIGTERM stops it cleanly and a
restart goes on from its last snapshot (ids continue, nothing twice in the stream); the Dagster sensor records its
last snapshot as an observation of ``portfolio_risk``. Screenshot: ``var/ui/monitor_replay.png``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from risk_platform import paths
from risk_platform.alerts import read_alerts
from tests.browser import Page
from tests.servers import RedisServer, free_port, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "var" / "ui" / "monitor_replay.png"


def monitor_command(state: Path, redis_url: str, updates: int, speed: float, page_port: int | None) -> list[str]:
    return [sys.executable, "-m", "risk_platform.cli", "monitor", "--replay", str(paths.BUNDLED_PRICES),
            "--start", "2020-03-09", "--steps-per-day", "5", "--updates", str(updates), "--speed", str(speed),
            "--no-models", "--mc-scenarios", "2000", "--publish", redis_url, "--state-dir", str(state / "monitor"),
            "--alerts", str(state / "alerts.jsonl"), "--evaluation-date", "2024-12-31", "--json",
            "--record", str(state / "record.jsonl"),
            *(["--page-port", str(page_port)] if page_port else ["--no-page"])]


def stream_ids(redis_url: str) -> list[int]:
    import redis

    client = redis.Redis.from_url(redis_url)
    return [int(json.loads(fields[b"json"])["snapshot_id"]) for _, fields in client.xrange("risk:snapshots")]


def test_the_monitor_replays_covid_to_the_stream_the_page_and_the_alert_log(tmp_path):
    with RedisServer(tmp_path).start() as server:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        process = subprocess.Popen(monitor_command(tmp_path, server.url, 25, 2.0, port), cwd=REPO, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        tab = Page.open()
        try:
            wait_for(lambda: len(stream_ids(server.url)) >= 1 or process.poll() is not None, 120,
                     "the monitor's first snapshot in the stream")
            tab.goto(f"http://127.0.0.1:{port}/")
            tab.wait_for("document.getElementById('snapshot-id').textContent.trim() !== '—'")
            first = tab.evaluate("[document.getElementById('snapshot-id').textContent.trim(),"
                                 " document.getElementById('var99').textContent.trim()]")
            token = tab.evaluate("window.livePage.token")
            tab.wait_for(f"Number(document.getElementById('snapshot-id').textContent.replace(/[^0-9]/g, ''))"
                         f" >= {int(''.join(c for c in first[0] if c.isdigit())) + 3}", timeout=60)
            later = tab.evaluate("[document.getElementById('snapshot-id').textContent.trim(),"
                                 " document.getElementById('var99').textContent.trim()]")
            assert later != first and tab.evaluate("window.livePage.token") == token  # updated, not reloaded
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(SCREENSHOT, full_page=True)
            out, err = process.communicate(timeout=120)
        finally:
            tab.close()
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, err[-2000:]
        summary = json.loads(out.strip().splitlines()[-1])
        assert {"updates", "p50_ms", "p99_ms", "published", "anomalies", "rss_growth_pct"} <= set(summary)
        assert summary["published"] == summary["updates"] == 25 and summary["day_rolls"] == 4
        assert stream_ids(server.url) == list(range(1, 26))
        recorded = [json.loads(line) for line in (tmp_path / "record.jsonl").read_text().splitlines()]
        assert [r["snapshot_id"] for r in recorded] == list(range(1, 26))
        assert recorded[0]["close_observation"]["start"] and sum(bool(r["close_observation"]) for r in recorded) == 5
        alerts = read_alerts(tmp_path / "alerts.jsonl")  # COVID: the VaR limits of the sample book breach
        assert any(a["limit"] == "var_99_pct_nav" and a["event"] == "opened" for a in alerts)
        assert all(a["dagster_run_id"].startswith("live monitor snapshot") for a in alerts)

        # SIGTERM mid-replay: the update in hand finishes, the checkpoint is on disk, exit 0 with the summary
        process = subprocess.Popen(monitor_command(tmp_path, server.url, 200, 2.0, None), cwd=REPO, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: len(stream_ids(server.url)) >= 28 or process.poll() is not None, 120,
                 "snapshots after the restart")
        process.send_signal(signal.SIGTERM)
        start = time.monotonic()
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0 and time.monotonic() - start < 10, err[-2000:]
        stopped = json.loads(out.strip().splitlines()[-1])
        assert stopped["stopped_by_signal"] and "resumed after" in stopped["source"]
        ids = stream_ids(server.url)
        assert ids == list(range(1, len(ids) + 1)) and ids[-1] == stopped["last_snapshot_id"] > 25

    from jobs.sensors import live_monitor_snapshot
    from resources import LiveMonitorResource

    resource = LiveMonitorResource(state_dir=str(tmp_path / "monitor"))
    context = dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources={"live_monitor": resource})
    result = live_monitor_snapshot.evaluate_tick(context)
    observation = result.asset_events[0]
    assert observation.asset_key == dg.AssetKey("portfolio_risk")
    assert observation.metadata["live_snapshot_id"].value == ids[-1] and result.cursor == str(ids[-1])
    assert "Live monitor, snapshot" in observation.metadata["live_snapshot"].value
    assert observation.metadata["live_chart"].value.startswith("![the live monitor's recent figures](data:image/png")
