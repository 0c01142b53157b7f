"""The monitor's publishing layer without a server: the spool (order, atomic rewrite, torn line), the back-off and
the publisher's bookkeeping against a test double of the sink interface, the webhook flow with a scripted sender,
sink URLs, the Kafka producer configuration, and a Redis sink pointed at a closed port."""

from __future__ import annotations

import json
import sys
import time
import warnings

import pytest

from risk_platform.errors import InputError
from risk_platform.io import TornLineWarning
from risk_platform.monitor import publish
from risk_platform.monitor.publish import (
    Backoff,
    DurableSpool,
    KafkaSink,
    RedisStreamSink,
    ReliablePublisher,
    SinkUnavailable,
    deliver_with_spool,
    kafka_producer_config,
    sink_from_url,
)
from tests.servers import free_port


def snapshot(number: int) -> dict:
    return {"snapshot_id": number, "portfolio": "demo", "var_99": 1000.0 + number, "limits": [{"limit": "var"}]}


class FlakySink:
    """A sink that is down for its first ``failures`` sends (SinkUnavailable), then records what it receives."""

    def __init__(self, name: str = "flaky", failures: int = 0, refuse: tuple[int, ...] = ()) -> None:
        self.name, self.failures, self.refuse = name, failures, set(refuse)
        self.attempts = 0
        self.received: list[int] = []

    def send(self, item: dict) -> None:
        self.attempts += 1
        if item["snapshot_id"] in self.refuse:
            raise InputError(f"snapshot {item['snapshot_id']}: out of order")
        if self.failures > 0:
            self.failures -= 1
            raise SinkUnavailable("connection refused")
        self.received.append(item["snapshot_id"])

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- the spool ---------------------------------------------------------------------------------------------------

def test_spool_keeps_order_across_instances_and_drops_delivered_keeping_order(tmp_path):
    path = tmp_path / "spool" / "sink.jsonl"
    spool = DurableSpool(path, "snapshot_id")
    assert spool.pending() == [] and len(spool) == 0
    for number in (3, 1, 2, 5, 4):
        spool.add(snapshot(number))
    reopened = DurableSpool(path, "snapshot_id")  # a restarted process
    assert [item["snapshot_id"] for item in reopened.pending()] == [3, 1, 2, 5, 4]
    assert len(reopened) == 5
    assert reopened.pending()[0] == snapshot(3)
    assert reopened.drop_delivered([1, 5, 99]) == 2
    assert [item["snapshot_id"] for item in DurableSpool(path, "snapshot_id").pending()] == [3, 2, 4]
    assert len(reopened) == 3
    assert reopened.drop_delivered([]) == 0
    assert [p.name for p in path.parent.iterdir()] == ["sink.jsonl"]  # no staging file left


def test_spool_rewrite_is_atomic_a_failed_rename_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "sink.jsonl"
    spool = DurableSpool(path, "snapshot_id")
    for number in (1, 2, 3):
        spool.add(snapshot(number))
    before = path.read_bytes()

    def refuse(*_args):
        raise OSError("disk full")

    monkeypatch.setattr("risk_platform.io.os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        spool.drop_delivered([2])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["sink.jsonl"]


def test_spool_skips_a_torn_last_line_and_appends_after_it(tmp_path):
    path = tmp_path / "sink.jsonl"
    spool = DurableSpool(path, "snapshot_id")
    spool.add(snapshot(1))
    spool.add(snapshot(2))
    with open(path, "ab") as handle:  # a process killed mid-append
        handle.write(b'{"snapshot_id": 3, "portf')
    with pytest.warns(TornLineWarning, match="line 3"):
        assert [item["snapshot_id"] for item in DurableSpool(path, "snapshot_id").pending()] == [1, 2]
    spool = DurableSpool(path, "snapshot_id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornLineWarning)
        spool.add(snapshot(4))
        assert [item["snapshot_id"] for item in spool.pending()] == [1, 2, 4]
        spool.drop_delivered([1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewrite left no torn line behind
        assert [item["snapshot_id"] for item in spool.pending()] == [2, 4]


def test_spool_refuses_items_without_their_key_and_names_a_corrupt_line(tmp_path):
    path = tmp_path / "sink.jsonl"
    spool = DurableSpool(path, "snapshot_id")
    with pytest.raises(InputError, match="without 'snapshot_id'"):
        spool.add({"time": "now"})
    with pytest.raises(InputError, match="not strict JSON"):
        spool.add({"snapshot_id": 1, "var_99": float("nan")})
    path.write_text('{"snapshot_id": 1}\nnot json\n{"snapshot_id": 2}\n')
    with pytest.raises(InputError, match=r"sink.jsonl line 2: not a spooled item"):
        DurableSpool(path, "snapshot_id").pending()


# --- back-off and the publisher -----------------------------------------------------------------------------------

def test_backoff_doubles_up_to_the_cap_and_resets_on_success():
    clock = Clock()
    backoff = Backoff(retry_after_s=1.0, max_retry_s=5.0, clock=clock)
    assert backoff.ready()
    assert [backoff.failed("down") for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert not backoff.ready() and backoff.wait_s() == 5.0
    clock.now = 4.999
    assert not backoff.ready()
    clock.now = 5.0
    assert backoff.ready()
    backoff.succeeded()
    assert backoff.failed("down again") == 1.0


def test_a_down_sink_is_not_tried_while_it_backs_off_and_gets_everything_once_in_order(tmp_path):
    clock = Clock()
    sink = FlakySink(failures=2)
    publisher = ReliablePublisher([sink], tmp_path, retry_after_s=1.0, max_retry_s=30.0, clock=clock)

    assert publisher.publish(snapshot(1)) == {"flaky": "spooled: connection refused"}
    assert sink.attempts == 1 and publisher.spooled_now == 1
    clock.now = 0.5  # backing off: spooled without trying
    assert publisher.publish(snapshot(2)) == {"flaky": "spooled: connection refused (retry in 0.5 s)"}
    assert sink.attempts == 1 and publisher.spooled_now == 2
    clock.now = 1.0  # due: the oldest spooled item fails again, the delay doubles
    assert publisher.publish(snapshot(3))["flaky"] == "spooled: connection refused"
    assert sink.attempts == 2 and publisher.status()["flaky"]["retry_in_s"] == 2.0
    clock.now = 2.9
    publisher.publish(snapshot(4))
    assert sink.attempts == 2
    clock.now = 3.0
    assert publisher.publish(snapshot(5)) == {"flaky": "resent 4, sent"}
    assert sink.received == [1, 2, 3, 4, 5]
    assert publisher.spooled_now == 0 and publisher.published == 5
    status = publisher.status()["flaky"]
    assert (status["state"], status["failures"], status["pending"], status["last_delivered_id"]) == ("ok", 0, 0, 5)
    clock.now = 3.1  # the back-off was reset
    assert publisher.publish(snapshot(6)) == {"flaky": "sent"}


def test_publisher_counts_a_snapshot_published_when_every_sink_has_it(tmp_path):
    clock = Clock()
    up, down = FlakySink("up"), FlakySink("down", failures=1)
    publisher = ReliablePublisher([up, down], tmp_path, retry_after_s=1.0, clock=clock)
    assert publisher.publish(snapshot(1)) == {"up": "sent", "down": "spooled: connection refused"}
    assert (publisher.published, publisher.spooled_now) == (0, 1)
    clock.now = 1.0
    assert publisher.publish(snapshot(2)) == {"up": "sent", "down": "resent 1, sent"}
    assert (publisher.published, publisher.spooled_now) == (2, 0)
    assert up.received == down.received == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["down.jsonl"]


def test_a_restarted_publisher_resends_its_spool_first(tmp_path):
    ReliablePublisher([FlakySink(failures=99)], tmp_path).publish(snapshot(1))
    first = ReliablePublisher([FlakySink(failures=99)], tmp_path)
    first.publish(snapshot(2))
    first.publish(snapshot(3))  # backing off: spooled without trying
    sink = FlakySink()
    restarted = ReliablePublisher([sink], tmp_path)
    assert restarted.spooled_now == 3
    assert restarted.publish(snapshot(4)) == {"flaky": "resent 3, sent"}
    assert sink.received == [1, 2, 3, 4]
    assert restarted.published == 1  # only snapshot 4 was published by this process


def test_a_backlog_larger_than_a_batch_drains_over_several_publishes_in_order(tmp_path):
    clock = Clock()
    sink = FlakySink(failures=1)
    publisher = ReliablePublisher([sink], tmp_path, retry_after_s=1.0, flush_batch=2, clock=clock)
    for number in range(1, 6):
        publisher.publish(snapshot(number))
    clock.now = 1.0
    assert publisher.publish(snapshot(6)) == {"flaky": "resent 2, spooled: backlog of 4"}
    assert publisher.publish(snapshot(7)) == {"flaky": "resent 2, spooled: backlog of 3"}
    assert publisher.publish(snapshot(8)) == {"flaky": "resent 2, spooled: backlog of 2"}
    assert publisher.publish(snapshot(9)) == {"flaky": "resent 2, sent"}
    assert sink.received == list(range(1, 10))


def test_a_refused_snapshot_is_reported_and_not_retried(tmp_path):
    sink = FlakySink(refuse=(2,))
    publisher = ReliablePublisher([sink], tmp_path)
    publisher.publish(snapshot(1))
    assert publisher.publish(snapshot(2)) == {"flaky": "rejected: snapshot 2: out of order"}
    assert publisher.publish(snapshot(3)) == {"flaky": "sent"}
    assert sink.received == [1, 3] and sink.attempts == 3 and publisher.spooled_now == 0
    assert publisher.status()["flaky"]["rejected"] == 1


def test_publisher_refuses_bad_snapshots_and_sinks_sharing_a_name(tmp_path):
    publisher = ReliablePublisher([FlakySink()], tmp_path)
    for bad in ({"snapshot_id": 0}, {"snapshot_id": "7"}, {"snapshot_id": True}, {}):
        with pytest.raises(InputError, match="snapshot_id"):
            publisher.publish(bad)
    with pytest.raises(InputError, match="not strict JSON"):
        publisher.publish({"snapshot_id": 1, "var_99": float("inf")})
    assert publisher.spooled_now == 0
    with pytest.raises(InputError, match="share a name"):
        ReliablePublisher([FlakySink("a b"), FlakySink("a:b")], tmp_path)


def test_deliver_with_spool_sends_a_failed_batch_again_whole_after_the_backoff(tmp_path):
    clock = Clock()
    answers = [False, True, True]
    batches = []

    def send(items):
        batches.append([item["delivery_id"] for item in items])
        return answers.pop(0)

    spool = DurableSpool(tmp_path / "alerts.jsonl", "delivery_id")
    backoff = Backoff(1.0, 10.0, clock)
    first = deliver_with_spool([{"delivery_id": "a"}, {"delivery_id": "b"}], send, spool, backoff)
    assert first.status == "spooled: not delivered" and len(spool) == 2
    assert deliver_with_spool([{"delivery_id": "c"}], send, spool, backoff).status.startswith("spooled: not deliv")
    clock.now = 1.0
    assert deliver_with_spool([], send, DurableSpool(spool.path, "delivery_id"), backoff).status == "resent 3, sent"
    assert deliver_with_spool([{"delivery_id": "d"}], send, spool, backoff).status == "sent"
    assert batches == [["a", "b"], ["a", "b", "c"], ["d"]]
    assert DurableSpool(spool.path, "delivery_id").pending() == []


# --- sinks --------------------------------------------------------------------------------------------------------

def test_sink_from_url_reads_redis_and_refuses_other_urls():
    sink = sink_from_url("redis://127.0.0.1:6390/2?stream=desk:live")
    assert isinstance(sink, RedisStreamSink)
    assert (sink.url, sink.stream, sink.name) == ("redis://127.0.0.1:6390/2", "desk:live",
                                                  "redis 127.0.0.1:6390/2 desk:live")
    assert sink_from_url("redis://localhost:6379/0").stream == "risk:snapshots"
    for url in ("http://example.org/hook", "redis://h:1/0?topic=x", "kafka://", "kafka://h:9092?stream=x",
                "redis:///0", "", "localhost:6379"):
        with pytest.raises(InputError, match="snapshot sink URL|Redis URL") as error:
            sink_from_url(url)
        assert repr(url) in str(error.value) and "\n" not in str(error.value)


def test_kafka_sink_without_the_client_library_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # not installed
    with pytest.raises(ImportError, match=r"pip install confluent-kafka") as error:
        sink_from_url("kafka://127.0.0.1:9092?topic=risk.live")
    assert "\n" not in str(error.value)
    with pytest.raises(ImportError, match=r"pip install confluent-kafka"):
        KafkaSink("127.0.0.1:9092")


def test_kafka_producer_config_is_idempotent_and_refuses_weaker_settings():
    config = kafka_producer_config("b1:9092,b2:9092", {"security.protocol": "SSL"}, timeout_s=1.5)
    assert config == {"bootstrap.servers": "b1:9092,b2:9092", "enable.idempotence": True, "acks": "all",
                      "linger.ms": 0, "message.timeout.ms": 1500, "socket.connection.setup.timeout.ms": 1500,
                      "security.protocol": "SSL"}
    with pytest.raises(InputError, match="enable.idempotence"):
        kafka_producer_config("b:9092", {"enable.idempotence": False})
    with pytest.raises(InputError, match="acks"):
        kafka_producer_config("b:9092", {"acks": 1})


def test_redis_sink_on_a_closed_port_is_unavailable_at_once():
    pytest.importorskip("redis")
    sink = RedisStreamSink(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.25)
    started = time.perf_counter()
    with pytest.raises(SinkUnavailable) as error:
        sink.send(snapshot(1))
    assert time.perf_counter() - started < 0.5
    assert error.value.reason.startswith("ConnectionError: ") and "\n" not in error.value.reason
    sink.close()


def test_snapshot_json_is_strict_and_sorted():
    assert json.loads(publish.snapshot_json(snapshot(4))) == snapshot(4)
    assert publish.snapshot_json({"b": 1, "a": 2, "snapshot_id": 1}) == '{"a": 2, "b": 1, "snapshot_id": 1}'
