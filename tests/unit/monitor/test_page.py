"""The live page's server on 127.0.0.1: what it keeps of the published snapshots and what its routes answer."""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from risk_platform.errors import InputError
from risk_platform.monitor.page import HISTORY_FIELDS, RECENT_ANOMALIES, LivePage, limit_threshold_usd
from tests.monitor_snapshots import NAV_USD, anomaly, open_alert, sample_snapshot


@pytest.fixture
def live() -> Iterator[LivePage]:
    page = LivePage()
    page.start()
    try:
        yield page
    finally:
        page.stop()


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def api(page: LivePage, query: str = "") -> dict:
    status, content_type, body = get(f"{page.url}api/snapshot{query}")
    assert status == 200 and content_type == "application/json"
    return json.loads(body)


def column(body: dict, field: str) -> list:
    at = body["history"]["fields"].index(field)
    return [row[at] for row in body["history"]["rows"]]


def test_the_page_serves_the_published_snapshot_its_history_alerts_and_anomalies(live):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", live.url) and not live.url.endswith(":0/")
    assert api(live)["snapshot"] is None  # the page's "waiting for the first snapshot" state

    first = sample_snapshot(1, 0.0, var_99=2_000_000.0)
    second = sample_snapshot(2, 1.0, var_99=2_100_000.0, anomalies=[anomaly(1.0)], alerts_open=[open_alert(1.0)])
    live.publish(first)
    live.publish(second)
    body = api(live)
    assert body["snapshot"] == second
    assert body["alerts_open"] == [open_alert(1.0)] and body["anomalies"] == [anomaly(1.0)]
    assert 0 <= body["age_s"] < 5 and body["history_s"] == 3600.0 and body["stale_after_s"] == 10.0
    assert tuple(body["history"]["fields"]) == HISTORY_FIELDS
    assert column(body, "var_99") == [2_000_000.0, 2_100_000.0]
    assert column(body, "t")[1] - column(body, "t")[0] == pytest.approx(1.0)
    assert column(body, "var_limit_usd") == [pytest.approx(0.03 * NAV_USD)] * 2  # 3% of NAV, the breach level
    assert column(body, "loss_so_far_usd") == [250_000.0, 250_000.0]
    warned = sample_snapshot(3, 2.0, var_99=2_600_000.0)  # 2.6% of NAV: the warn threshold (2.5%) is the one crossed
    live.publish(warned)
    assert column(api(live), "var_limit_usd")[-1] == pytest.approx(0.03 * NAV_USD)  # the chart's line: the breach

    assert api(live, "?after=3") == {"age_s": pytest.approx(body["age_s"], abs=5), "published": 3,
                                     "history_s": 3600.0, "stale_after_s": 10.0, "unchanged": True,
                                     "snapshot_id": 3}
    assert api(live, "?after=2")["snapshot"]["snapshot_id"] == 3
    assert get(f"{live.url}api/snapshot?after=x")[0] == 400

    status, content_type, health = get(f"{live.url}healthz")
    assert status == 200 and json.loads(health) == {"status": "ok", "published": 3, "snapshot_id": 3}
    assert get(f"{live.url}nothing")[0] == 404


def test_the_page_is_one_self_contained_document_with_the_ids_the_browser_test_reads(live):
    status, content_type, html = get(live.url)
    text = html.decode()
    assert status == 200 and content_type.startswith("text/html")
    for element in ("var99", "es99", "var95", "es95", "snapshot-id", "snapshot-time", "last-update", "history-points",
                    "history-chart", "alerts-body", "anomalies-body", "waiting", "stale", "loss-so-far", "nav",
                    "horizon", "bound-by", "model-versions", "models-status", "latency"):
        assert f'id="{element}"' in text, element
    assert "<canvas" in text and "<style>" in text and "<script>" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "an external file in the page"
    assert "@import" not in text and "url(" not in text


def test_the_chart_s_limit_line_falls_back_on_the_threshold_and_converts_pct_of_nav():
    snapshot = sample_snapshot(1, 0.0)
    limit = next(item for item in snapshot["limits"] if item["metric"] == "var_99")
    assert limit_threshold_usd(snapshot) == pytest.approx(0.03 * NAV_USD)
    del limit["breach_threshold"]
    assert limit_threshold_usd(snapshot) == pytest.approx(0.03 * NAV_USD)  # ok: the threshold is the breach one
    limit.update(threshold=2_750_000.0, unit="USD")
    assert limit_threshold_usd(snapshot) == 2_750_000.0
    limit.update(unit="days")
    assert limit_threshold_usd(snapshot) is None
    assert limit_threshold_usd({"limits": []}) is None


def test_the_history_keeps_history_s_seconds_before_the_newest_snapshot_time():
    page = LivePage(history_s=60.0)
    for step, seconds in enumerate(range(0, 130, 10), start=1):  # 0 .. 120 s
        page.publish(sample_snapshot(step, seconds, var_99=1e6 + seconds))
    page.publish(sample_snapshot(20, 115.0, var_99=9e6))  # late and out of order: slotted in by its time
    page.publish(sample_snapshot(21, 120.0, var_99=7e6))  # same time as a kept row: replaces it
    body = json.loads(page.api_body())
    times = [t - column(body, "t")[0] for t in column(body, "t")]
    assert times == [0, 10, 20, 30, 40, 50, 55, 60]  # 60 .. 120 s after the start, the newest time 120 s
    assert column(body, "var_99") == [1e6 + 60, 1e6 + 70, 1e6 + 80, 1e6 + 90, 1e6 + 100, 1e6 + 110, 9e6, 7e6]
    assert body["snapshot"]["snapshot_id"] == 21  # the latest published, whatever its time


def test_only_the_last_anomalies_are_kept_newest_first():
    page = LivePage()
    for step in range(1, 61):
        page.publish(sample_snapshot(step, step, anomalies=[anomaly(step, value=float(step) * 1e5)]))
    anomalies = json.loads(page.api_body())["anomalies"]
    assert len(anomalies) == RECENT_ANOMALIES == 50
    assert [a["value"] for a in anomalies[:2]] == [6e6, 5.9e6] and anomalies[-1]["value"] == 1.1e6


def test_non_finite_figures_reach_the_browser_as_null():
    page = LivePage()
    page.publish(sample_snapshot(1, 0.0, var_99=math.nan))
    body = json.loads(page.api_body())  # strict JSON: the browser's JSON.parse rejects NaN
    assert body["snapshot"]["var_99"] is None and column(body, "var_99") == [None]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com", ""])
def test_a_host_that_is_not_loopback_is_refused(host):
    with pytest.raises(InputError, match="loopback only"):
        LivePage(host=host)


def test_loopback_hosts_are_accepted():
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert LivePage(host=host).host == host


@pytest.mark.parametrize("snapshot, message", [({"time": "2026-12-01T10:00:00Z"}, "without snapshot_id"),
                                               ({"snapshot_id": 7, "time": "10h"}, "snapshot 7: time '10h'")])
def test_a_snapshot_without_id_or_time_is_refused_in_one_line(snapshot, message):
    with pytest.raises(InputError, match=message):
        LivePage().publish(snapshot)


def test_publish_costs_well_under_a_millisecond_with_an_hour_of_history():
    page = LivePage()
    snapshots = [sample_snapshot(step, step, anomalies=[anomaly(step)] if step % 100 == 0 else None)
                 for step in range(1, 5001)]
    started = time.perf_counter()
    for snapshot in snapshots:
        page.publish(snapshot)
    per_publish = (time.perf_counter() - started) / len(snapshots)
    assert len(json.loads(page.api_body())["history"]["rows"]) == 3601  # one per second, the newest hour
    assert per_publish < 2e-4, f"publish took {per_publish * 1e6:.0f} us"


def test_stop_closes_the_port():
    page = LivePage()
    url = page.start()
    assert page.start() == url  # started once
    page.stop()
    page.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}healthz", timeout=5)
