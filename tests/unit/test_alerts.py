"""Alerts: records for fired limits, the append-only JSONL log, the webhook that never crashes a run."""

import json
import logging
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pandas as pd
import pytest

from risk_platform.alerts import (
    Alert,
    AlertSink,
    alerts_for,
    append_alerts,
    check_limits,
    read_alerts,
    send_webhook,
    triage_alerts,
)
from risk_platform.errors import InputError
from risk_platform.risk.limits import evaluate_limits, parse_limits

LIMITS = parse_limits({"limits": [
    {"name": "var99", "family": "var", "metric": "var_99", "scale": "pct_nav", "warn": 1.5, "breach": 2.0},
    {"name": "hhi", "family": "concentration", "metric": "herfindahl_index", "warn": 0.1, "breach": 0.5,
     "severity": "warn"},
    {"name": "dtl", "family": "liquidity", "metric": "days_to_liquidate_portfolio", "breach": 5},
]})
REPORT = {"portfolio": "Test book", "asof": "2024-12-31", "nav": 100e6, "var_99": 2.5e6, "herfindahl_index": 0.2,
          "bound_by": {"var_99": "historical_simulation(500d)"}, "model_versions": {"lstm_vol": "current:3"}}
NOW = pd.Timestamp("2025-01-02T14:15:00Z")


def test_alerts_for_breaches_carry_figures_and_model_versions():
    results = evaluate_limits(REPORT, LIMITS)
    (alert,) = alerts_for(results, REPORT, run_id="run-1", now=NOW)
    assert (alert.limit, alert.status, alert.severity, alert.figure, alert.threshold) == ("var99", "breach", "error",
                                                                                          2.5, 2.0)
    assert alert.utilisation == pytest.approx(1.25)
    assert (alert.portfolio, alert.asof, alert.dagster_run_id, alert.time) == ("Test book", "2024-12-31", "run-1",
                                                                               "2025-01-02T14:15:00+00:00")
    assert alert.model_versions == {"figure": "historical_simulation(500d)", "report": {"lstm_vol": "current:3"}}
    with_warn = alerts_for(results, REPORT, run_id="run-1", alert_on=("warn", "breach"), now=NOW)
    assert [(a.limit, a.status, a.severity) for a in with_warn] == [("var99", "breach", "error"),
                                                                     ("hhi", "warn", "warn")]


def test_alert_log_is_append_only(tmp_path):
    log = tmp_path / "alerts" / "alerts.jsonl"
    alerts = alerts_for(evaluate_limits(REPORT, LIMITS), REPORT, run_id="run-1", now=NOW)
    assert append_alerts(log, alerts) == 1
    first = log.read_bytes()
    assert append_alerts(log, alerts_for(evaluate_limits(REPORT, LIMITS), REPORT, run_id="run-2", now=NOW)) == 1
    assert log.read_bytes().startswith(first)
    records = read_alerts(log)
    assert [r["dagster_run_id"] for r in records] == ["run-1", "run-2"]
    assert Alert(**records[0]) == alerts[0]
    assert append_alerts(log, []) == 0 and len(read_alerts(log)) == 2
    assert read_alerts(tmp_path / "none.jsonl") == []


def test_a_persisting_breach_is_one_episode_with_reminders_escalation_and_clearing(tmp_path):
    log = tmp_path / "alerts.jsonl"
    every = pd.Timedelta(hours=4)
    warn_on = ("warn", "breach")

    def run(report: dict, minutes: int, run_id: str):
        now = NOW + pd.Timedelta(minutes=minutes)
        results = evaluate_limits(report, LIMITS)
        fired = alerts_for(results, report, run_id=run_id, alert_on=warn_on, now=now)
        triage = triage_alerts(fired, results, report, read_alerts(log), every, run_id=run_id, now=now)
        append_alerts(log, triage.notify)
        return [(a.event, a.limit, a.status) for a in triage.notify], [a.limit for a in triage.suppressed]

    breached = REPORT  # var99 breach (2.5% > 2.0), hhi warn (0.2 > 0.1)
    assert run(breached, 0, "r0") == ([("opened", "var99", "breach"), ("opened", "hhi", "warn")], [])
    assert run(breached, 15, "r1") == ([], ["var99", "hhi"])  # every 15 minutes: nothing new, nobody paged
    assert run(breached, 239, "r2") == ([], ["var99", "hhi"])
    assert run(breached, 240, "r3") == ([("reminder", "var99", "breach"), ("reminder", "hhi", "warn")], [])
    hhi_breach = {**REPORT, "herfindahl_index": 0.6}
    assert run(hhi_breach, 255, "r4") == ([("escalated", "hhi", "breach")], ["var99"])
    calm = {**REPORT, "var_99": 1.0e6, "herfindahl_index": 0.05}
    assert run(calm, 270, "r5") == ([("cleared", "var99", "ok"), ("cleared", "hhi", "ok")], [])
    assert run(calm, 285, "r6") == ([], [])
    assert run(breached, 300, "r7") == ([("opened", "var99", "breach"), ("opened", "hhi", "warn")], [])
    records = read_alerts(log)
    assert len(records) == 9  # 2 opened + 2 reminders + 1 escalation + 2 cleared + 2 opened; 6 suppressed
    reminder = next(r for r in records if r["event"] == "reminder" and r["limit"] == "var99")
    assert reminder["opened_at"] == NOW.isoformat() and reminder["dagster_run_id"] == "r3"
    cleared = next(r for r in records if r["event"] == "cleared" and r["limit"] == "var99")
    assert cleared["figure"] == pytest.approx(1.0) and cleared["dagster_run_id"] == "r5"
    assert cleared["message"].startswith("cleared: var99: ok")
    other_book = {**calm, "portfolio": "Other book"}  # episodes are per portfolio: nothing of Test book clears
    assert run(other_book, 310, "r8") == ([], [])


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    status = 200
    delay = 0.0

    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(type(self).delay)
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.received, _Hook.status, _Hook.delay = [], 200, 0.0
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook
    server.shutdown()
    server.server_close()


def test_webhook_posts_json(webhook):
    url, hook = webhook
    alerts = alerts_for(evaluate_limits(REPORT, LIMITS), REPORT, run_id="run-1", now=NOW)
    delivery = send_webhook(url, alerts)
    assert delivery.ok and delivery.status == 200
    ((content_type, body),) = hook.received
    assert content_type == "application/json"
    assert body["alerts"][0]["limit"] == "var99" and body["alerts"][0]["dagster_run_id"] == "run-1"


def test_webhook_failures_are_logged_never_raised(webhook, caplog):
    url, hook = webhook
    alerts = alerts_for(evaluate_limits(REPORT, LIMITS), REPORT, run_id="run-1", now=NOW)
    hook.status = 500
    with caplog.at_level(logging.WARNING, logger="risk_platform.alerts"):
        assert send_webhook(url, alerts).status == 500
    assert "HTTP 500" in caplog.text
    hook.status, hook.delay = 200, 1.0
    slow = send_webhook(url, alerts, timeout=0.2)
    assert not slow.ok and "timed out" in slow.error.lower()
    closed = send_webhook("http://127.0.0.1:9/nothing-listens", alerts, timeout=1)
    assert not closed.ok and closed.status is None
    assert not send_webhook("not a url", alerts).ok


def test_check_limits_evaluates_triages_and_delivers_one_run(tmp_path, webhook):
    url, hook = webhook
    sink = AlertSink(tmp_path / "alerts.jsonl", webhook_url=url)
    first = check_limits(REPORT, LIMITS, sink, run_id="run-1")
    assert first.status_counts() == {"ok": 0, "warn": 1, "breach": 1, "not_evaluated": 1}  # no liquidity figure
    assert [(a.event, a.limit) for a in first.alerts] == [("opened", "var99")] and first.delivery.ok
    assert sink.webhook_status(first.delivery) == "delivered" and len(hook.received) == 1
    stored = first.to_dict(REPORT, "limits.yaml")
    assert [r["limit"] for r in stored["results"]] == ["var99", "hhi", "dtl"] and stored["alerts_suppressed"] == []
    assert first.lineage_facts(REPORT, str(tmp_path / "alerts.jsonl"))["statuses"]["var99"] == "breach"
    again = check_limits(REPORT, LIMITS, sink, run_id="run-2")  # inside the re-notification interval
    assert again.alerts == [] and [a.limit for a in again.triage.suppressed] == ["var99"]
    assert again.delivery is None and sink.webhook_status(again.delivery) == "nothing to send"
    assert [r["dagster_run_id"] for r in read_alerts(sink.jsonl_path)] == ["run-1"]
    assert AlertSink(tmp_path / "other.jsonl").webhook_status(None) == "not configured"


class _Garbage(socketserver.BaseRequestHandler):
    """Answers any request with bytes that are not HTTP."""

    def handle(self):
        self.request.recv(65536)
        self.request.sendall(b"\x00\xffnot http at all\r\n\r\n")


@pytest.fixture
def garbage_server():
    server = socketserver.TCPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/plain,hello", "ftp://127.0.0.1/x", "http://"])
def test_only_http_webhooks_are_accepted(tmp_path, url):
    with pytest.raises(InputError) as err:
        AlertSink(tmp_path / "alerts.jsonl", webhook_url=url)
    assert str(err.value) == f"alert webhook URL {url!r}: only http:// or https:// URLs with a host are accepted"
    alerts = alerts_for(evaluate_limits(REPORT, LIMITS), REPORT, run_id="run-1", now=NOW)
    delivery = send_webhook(url, alerts)  # called directly: refused, never opened, never raised
    assert not delivery.ok and delivery.status is None and "only http:// or https://" in delivery.error


def test_a_garbage_answer_is_a_recorded_delivery_failure_not_an_exception(tmp_path, garbage_server):
    sink = AlertSink(tmp_path / "alerts.jsonl", webhook_url=garbage_server, webhook_timeout_s=2)
    checked = check_limits(REPORT, LIMITS, sink, run_id="run-1")
    assert not checked.delivery.ok and checked.delivery.status is None
    assert sink.webhook_status(checked.delivery).startswith("FAILED: ")
    assert "\n" not in checked.delivery.error
    assert [r["limit"] for r in read_alerts(sink.jsonl_path)] == ["var99"]  # the log keeps the alert
