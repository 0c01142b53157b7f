"""``risk-platform monitor``: the monitor assembled from its parts (data, book, limits, models, sinks, live page,
anomaly detector, alert sink) and run until its updates end or SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from risk_platform.alerts import Alert, AlertSink
from risk_platform.errors import InputError, RegistryUnavailable
from risk_platform.monitor.live import DEFAULT_CLOSE_UTC, LiveState, ModelSet, build_live_state, live_config
from risk_platform.monitor.runner import Monitor, path_stamp
from risk_platform.monitor.updates import (
    LandingFolderSource,
    RedisStreamSource,
    paced,
    read_replay,
    replay_is_intraday,
)
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.limits import LimitSet
from risk_platform.workflows.market_inputs import MarketInputs

LIVE_MC_SCENARIOS = 10_000  # vine-copula draws held warm (re-priced on every update)
LIVE_ANOMALY_K = 5.0  # the anomaly bands' width on the monitor's own figures: tuned on 2004-2009 replays of the
#   sample book through the monitor (python -m bench.monitor_replay), at most one false-alarm day in 20


@dataclass
class MonitorSettings:
    """What ``risk-platform monitor`` was asked for (see the command's help)."""

    state_dir: Path
    replay: Path | None = None
    speed: float = 1.0
    updates: int | None = None
    start: pd.Timestamp | None = None
    steps_per_day: int = 20
    landing: Path | None = None
    stream: str | None = None
    duration_s: float | None = None
    publish: list[str] = field(default_factory=list)
    page_port: int | None = 0
    webhook_url: str | None = None
    alerts_jsonl: Path | None = None
    close_utc: str = DEFAULT_CLOSE_UTC
    mc_scenarios: int = LIVE_MC_SCENARIOS
    alias_check_s: float = 30.0
    evaluation_date: pd.Timestamp | None = None
    record: Path | None = None
    anomaly_k: float = LIVE_ANOMALY_K


def model_reader(registry, inputs: MarketInputs, loaded: dict | None = None
                 ) -> Callable[[pd.Timestamp], ModelSet]:
    """Reads the aliased models' inputs as of a close (the daily features up to it: no later data), or says why
    there are none (registry down or unreadable: non-model methods only). Guardrail-flagged forecasts a named human
    accepted count as the risk assets count them: the overrides log beside the registry's alias audit log."""
    from risk_platform.families import MODEL_NAMES
    from risk_platform.features.engineering import series_features
    from risk_platform.models.guardrails import default_override_log, override_log_beside

    override_log = override_log_beside(registry.audit.path) if registry.audit is not None else default_override_log()

    features = series_features(inputs.returns, inputs.panel, inputs.instruments)
    loaded = loaded if loaded is not None else {}  # versions loaded once (weights never change; a move loads anew)

    def read(asof: pd.Timestamp) -> ModelSet:
        import torch  # only when models are read

        from risk_platform.models.inference import aliased_model_inputs

        torch.set_num_threads(1)  # refreshes run beside the update loop: one core each
        daily = features[features["date"] <= asof]
        try:
            out = aliased_model_inputs(registry, daily, tuple(MODEL_NAMES), override_log=override_log,
                                       actor="live monitor", loaded=loaded)
            for failed in [key for key, model in loaded.items() if model is None]:
                del loaded[failed]  # a version that did not load is tried again at the next refresh
        except (RegistryUnavailable, InputError, OSError) as exc:
            return ModelSet((), f"model registry unavailable ({' '.join(str(exc).split())}): non-model methods only")
        if out.registry_error:
            return ModelSet((), f"model registry unavailable ({out.registry_error}): non-model methods only")
        if not out.inputs:
            return ModelSet((), "no model version carries an alias: non-model methods only")
        models = ModelSet(tuple(out.inputs))
        return replace(models, status=f"aliased models: {', '.join(models.versions)}")

    return read


def alias_reader(registry) -> Callable[[], dict]:
    """The registry's aliases of every model (what a refresh depends on); the error when it cannot be read."""
    from risk_platform.families import MODEL_NAMES

    def read() -> dict:
        try:
            return {key: registry.aliases(key) for key in MODEL_NAMES}
        except (RegistryUnavailable, OSError) as exc:
            return {"registry_error": str(exc).split("\n")[0]}

    return read


@dataclass(frozen=True)
class UpdateSource:
    """Where updates come from: ``updates`` to iterate once the monitor has started, the description, and for a
    replay the close the monitor starts from and the close its first session ends at."""

    updates: Iterator[dict]
    description: str
    start_close: pd.Timestamp | None = None
    first_close: pd.Timestamp | None = None


class LiveInputs:
    """The market inputs and the models' reader a refresh uses; reloaded through the gate when the prices file or
    folder changes (``load_inputs``, ``prices_path``; a live monitor's day roll)."""

    def __init__(self, inputs: MarketInputs, config: RiskConfig, close_utc: str, registry=None,
                 registry_note: str = "", load_inputs: Callable[[], MarketInputs] | None = None,
                 prices_path: Path | None = None) -> None:
        self.inputs, self.config, self.close_utc, self.registry = inputs, config, close_utc, registry
        self._load_inputs, self.prices_path = load_inputs, prices_path
        self._loaded: dict = {}  # model versions loaded once, across reloads
        no_models = ModelSet((), registry_note or "no model registry configured: non-model methods only")
        self.read_models = model_reader(registry, inputs, self._loaded) if registry is not None \
            else (lambda _asof: no_models)

    @property
    def watched(self) -> bool:
        return self._load_inputs is not None and self.prices_path is not None

    def stamp(self) -> object:
        return path_stamp(self.prices_path)

    def reload(self) -> None:
        if self._load_inputs is None:
            return
        self.inputs = self._load_inputs()
        if self.registry is not None:
            self.read_models = model_reader(self.registry, self.inputs, self._loaded)

    def refresh(self, asof: pd.Timestamp | None, book: Portfolio, next_close: pd.Timestamp | None) -> LiveState:
        return build_live_state(book, self.inputs, asof, self.config, self.read_models, self.close_utc, next_close)


def updates_from(settings: MonitorSettings, instruments, stop: threading.Event, seen: set[str],
                 resume_after: pd.Timestamp | None = None) -> UpdateSource:
    """The update stream of the settings (a replay resumed after ``resume_after``, a restarted monitor's last
    update: the same replay goes on where it stopped)."""
    if settings.replay is not None:
        yields = frozenset(instruments.loc[instruments["quote_type"] == "yield_pct", "symbol"])
        plan = read_replay(settings.replay, settings.start, settings.updates, settings.steps_per_day,
                           close_utc=settings.close_utc, yields=yields)
        if resume_after is not None:
            plan = plan.resume_after(resume_after)
        how = f"replay of {settings.replay} at {settings.speed:g} updates/s" + (
            f"; {plan.synthetic}" if plan.synthetic else "") + (
            f"; resumed after {resume_after.isoformat()}" if resume_after is not None else "")
        return UpdateSource(paced(plan.updates, settings.speed, stop.is_set), how, plan.start_close,
                            plan.first_close())
    if settings.landing is not None:
        source = LandingFolderSource(settings.landing, seen)
        return UpdateSource(_polled(source.poll, stop, settings.duration_s, 0.1), f"landing folder {settings.landing}")
    if settings.stream is not None:
        stream = RedisStreamSource(settings.stream)
        return UpdateSource(_polled(lambda: stream.poll(200), stop, settings.duration_s, 0.0),
                            f"stream {settings.stream}")
    raise InputError("monitor: give one source of price updates: --replay FILE, --landing DIR or --stream URL")


def _polled(poll: Callable[[], list[dict]], stop: threading.Event, duration_s: float | None,
            idle_s: float) -> Iterator[dict]:
    """Updates from ``poll`` until ``stop`` or ``duration_s``."""
    end = time.monotonic() + duration_s if duration_s else None
    while not stop.is_set() and (end is None or time.monotonic() < end):
        items = poll()
        yield from items
        if not items and idle_s:
            stop.wait(idle_s)


def run_monitor(settings: MonitorSettings, inputs: MarketInputs, portfolio: Portfolio,
                load_portfolio: Callable[[], Portfolio], positions_file: Path | None, limits: LimitSet,
                registry=None, registry_note: str = "", echo: Callable[[str], None] | None = None,
                load_inputs: Callable[[], MarketInputs] | None = None, prices_path: Path | None = None) -> dict:
    """Run the monitor; returns its summary (the ``--json`` object). ``load_inputs``/``prices_path``: how to reload
    the market data when the prices file or folder changes (not for a replay)."""
    from risk_platform.monitor.anomaly import AnomalyDetector

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    config = live_config(RiskConfig(evaluation_date=settings.evaluation_date), settings.mc_scenarios)
    market = LiveInputs(inputs, config, settings.close_utc, registry, registry_note,
                        None if settings.replay else load_inputs, None if settings.replay else prices_path)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)} \
        if threading.current_thread() is threading.main_thread() else {}
    publisher = _publisher(settings.publish, settings.state_dir / "spool") if settings.publish else None
    page = _page(settings.page_port, page_history_s(settings)) if settings.page_port is not None else None
    sink = AlertSink(settings.alerts_jsonl or settings.state_dir.parent / "alerts" / "alerts.jsonl",
                     settings.webhook_url)
    monitor = Monitor(market.refresh, portfolio, load_portfolio, positions_file, limits, sink, settings.state_dir,
                      publisher=publisher, detector=AnomalyDetector(k=settings.anomaly_k), page=page,
                      aliases=alias_reader(registry) if registry is not None else None,
                      alias_check_s=settings.alias_check_s,
                      deliver_alerts=_alert_delivery(sink, settings.state_dir) if settings.webhook_url else None,
                      history=daily_history, market_stamp=market.stamp if market.watched else None,
                      reload_market=market.reload, record=settings.record)
    try:
        url = page.start() if page is not None else None
        if url and echo:
            echo(f"live page: {url}")
        source = updates_from(settings, inputs.instruments, stop, monitor.seen_files,
                              resume_after=checkpoint_time(settings.state_dir) if settings.replay else None)
        monitor.start(source.start_close, source.first_close)
        if echo:
            echo(f"monitor: {source.description}; as of {monitor.state.asof:%Y-%m-%d}; {monitor.state.models.status}")
        monitor.run(source.updates, stop, on_snapshot=_echo_snapshot(echo) if echo else None)
        summary = {**monitor.summary(), "source": source.description, "page": url, "stopped_by_signal": stop.is_set(),
                   "sinks": publisher.status() if publisher is not None else {}}
    finally:
        monitor.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return summary


def checkpoint_time(state_dir: Path) -> pd.Timestamp | None:
    """The time of the last update a monitor published from ``state_dir`` (None: it never ran there)."""
    from risk_platform.monitor.observation import last_snapshot

    snapshot = last_snapshot(state_dir)
    return pd.Timestamp(snapshot["time"]) if snapshot else None


def daily_history(state: LiveState, days: int = 250) -> pd.DataFrame:
    """The book's daily risk metrics over the last ``days`` up to the state's close (the detector's warm-up)."""
    from risk_platform.monitor.metric_history import book_metric_history

    return book_metric_history(state.portfolio, state.market).tail(days)


def _publisher(urls: list[str], spool_dir: Path):
    from risk_platform.monitor.publish import ReliablePublisher, sink_from_url

    return ReliablePublisher([sink_from_url(url) for url in urls], spool_dir)


def page_history_s(settings: MonitorSettings) -> float:
    """The page's chart window in market time: the last hour live; the last 5 days replaying a daily file (its
    updates are hours apart on the synthetic path)."""
    daily = settings.replay is not None and not replay_is_intraday(settings.replay)
    return 5 * 86400.0 if daily else 3600.0


def _page(port: int, history_s: float):
    from risk_platform.monitor.page import LivePage

    return LivePage(port=port, history_s=history_s)


def _alert_delivery(sink: AlertSink, state_dir: Path) -> Callable[[list[Alert]], None]:
    """Alerts appended to the log, then POSTed through a spool with back-off: a webhook that is down gets them, each
    once and in order, when it returns, and costs the updates nothing meanwhile."""
    from risk_platform.alerts import append_alerts
    from risk_platform.monitor.publish import (
        ALERT_KEY,
        Backoff,
        DurableSpool,
        alert_item,
        deliver_with_spool,
        webhook_sender,
    )

    spool = DurableSpool(state_dir / "spool" / "webhook.jsonl", key=ALERT_KEY)
    send, backoff = webhook_sender(sink.webhook_url, timeout_s=1.0), Backoff()

    def deliver(alerts: list[Alert]) -> None:
        append_alerts(sink.jsonl_path, alerts)
        deliver_with_spool([alert_item(a) for a in alerts], send, spool, backoff)

    return deliver


def _echo_snapshot(echo: Callable[[str], None]) -> Callable[[dict], None]:
    def show(snapshot: dict) -> None:
        echo(f"#{snapshot['snapshot_id']} {snapshot['time']} VaR99 {snapshot['var_99']:,.0f} ES99"
             f" {snapshot['es_99']:,.0f} loss so far {snapshot['loss_so_far_usd']:,.0f} USD"
             f" ({snapshot['latency_ms']:.0f} ms)")

    return show


def echo_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

