"""The monitor's publishing for real: snapshots to a Redis stream on a ``redis-server`` killed (SIGKILL) and
restarted mid-way (append-only file, fsync per write, in a temp dir), and alerts to an HTTP webhook on
127.0.0.1 that answers 503 before 200. Nothing is lost, nothing is duplicated."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from risk_platform.alerts import Alert
from risk_platform.errors import InputError
from risk_platform.monitor.publish import (
    ALERT_KEY,
    Backoff,
    DurableSpool,
    RedisStreamSink,
    ReliablePublisher,
    alert_item,
    deliver_with_spool,
    webhook_sender,
)
from tests.servers import RedisServer

pytestmark = pytest.mark.integration

redis = pytest.importorskip("redis")
OUTAGE_PUBLISH_S = 0.05  # a publish while Redis is down must not hold the update loop longer than this


def snapshot(number: int) -> dict:
    return {"snapshot_id": number, "time": f"2026-12-01T10:{number:02d}:00+00:00", "portfolio": "demo",
            "nav_usd": 1.0e8, "var_99": 1_250_000.5 + number, "horizon": {"remaining_fraction": 0.5},
            "limits": [{"limit": "var_99", "utilisation": 0.83, "status": "ok"}], "model_versions": ["lstm/3"]}


def stream_ids(client, stream: str = "risk:snapshots") -> list[str]:
    return [entry_id.decode() for entry_id, _ in client.xrange(stream)]


def test_snapshots_survive_a_redis_crash_once_each_in_order(tmp_path):
    folder = tmp_path / "redis"
    folder.mkdir()
    with RedisServer(folder, persistent=True) as server:
        sink = RedisStreamSink(server.url)
        publisher = ReliablePublisher([sink], tmp_path / "spool", retry_after_s=0.3, max_retry_s=0.6)
        for number in range(1, 6):
            assert publisher.publish(snapshot(number)) == {sink.name: "sent"}

        server.kill()
        durations = []
        for number in range(6, 11):
            started = time.perf_counter()
            status = publisher.publish(snapshot(number))[sink.name]
            durations.append(time.perf_counter() - started)
            assert status.startswith("spooled: "), status
        print(f"publish while Redis is down: {[round(d * 1000, 2) for d in durations]} ms")
        assert max(durations) < OUTAGE_PUBLISH_S, durations
        assert publisher.spooled_now == 5 and publisher.status()[sink.name]["state"] == "backing off"

        server.start()  # same port, same append-only file
        time.sleep(publisher.status()[sink.name]["retry_in_s"])
        assert publisher.publish(snapshot(11)) == {sink.name: "resent 5, sent"}
        assert publisher.spooled_now == 0 and publisher.published == 11

        client = redis.Redis.from_url(server.url)
        entries = client.xrange("risk:snapshots")
        assert [entry_id.decode() for entry_id, _ in entries] == [f"{n}-0" for n in range(1, 12)]
        for number, (_, fields) in enumerate(entries, start=1):
            assert fields[b"snapshot_id"] == str(number).encode()
            assert json.loads(fields[b"json"]) == snapshot(number)

        sink.send(snapshot(3))  # a re-send adds nothing
        assert publisher.publish(snapshot(3)) == {sink.name: "sent"}
        assert stream_ids(client) == [f"{n}-0" for n in range(1, 12)]

        sink.send(snapshot(13))
        with pytest.raises(InputError, match=r"snapshot 12: out of order .*its last entry is 13-0"):
            sink.send(snapshot(12))
        sink.close()
        client.close()
        publisher.close()


class Webhook:
    """An HTTP server on 127.0.0.1 that answers the scripted statuses in turn (then 200) and records every POST."""

    def __init__(self, answers: list[int]) -> None:
        self.answers, self.received = list(answers), []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                code = webhook.answers.pop(0) if webhook.answers else 200
                webhook.received.append((code, body["alerts"]))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook([503])
    hook.thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()


def alert(limit: str, minute: int) -> Alert:
    return Alert(time=f"2026-12-01T10:{minute:02d}:00+00:00", limit=limit, family="var", status="breach",
                 severity="critical", figure=1_300_000.0, threshold=1_000_000.0, utilisation=1.3, unit="USD",
                 portfolio="demo", asof="2026-11-30", model_versions=["lstm/3"], dagster_run_id=None,
                 message=f"{limit} breached", opened_at=f"2026-12-01T10:{minute:02d}:00+00:00")


def test_spooled_alerts_reach_the_webhook_once_each_after_it_recovers(tmp_path, webhook):
    send = webhook_sender(webhook.url, timeout_s=2.0)
    backoff = Backoff(retry_after_s=0.3, max_retry_s=1.0)
    spool = DurableSpool(tmp_path / "alerts.jsonl", ALERT_KEY)
    first = [alert("var_99", 1), alert("es_97_5", 1)]
    assert deliver_with_spool([alert_item(a) for a in first], send, spool, backoff).status == "spooled: HTTP 503"
    third = alert("var_95", 2)
    assert deliver_with_spool([alert_item(third)], send, spool, backoff).status.startswith("spooled: HTTP 503")
    assert len(webhook.received) == 1  # backing off: no request

    time.sleep(backoff.wait_s())
    restarted = DurableSpool(spool.path, ALERT_KEY)  # a restarted monitor finds its spool
    assert deliver_with_spool([], send, restarted, backoff).status == "resent 3, sent"
    assert deliver_with_spool([], send, restarted, backoff).status == "sent"  # nothing left: no request

    accepted = [record for code, alerts in webhook.received if code == 200 for record in alerts]
    assert accepted == [a.to_dict() for a in [*first, third]]
    assert [code for code, _ in webhook.received] == [503, 200]
    assert restarted.pending() == []
