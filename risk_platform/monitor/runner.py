"""The monitor loop: price updates in, a snapshot out for each (figures, what bound them, model versions,
latency), published to the stream sinks and the live page; limits and anomalies through the alert episodes.

:class:`Monitor` holds the warm :class:`~risk_platform.monitor.live.LiveState` and everything around it:

* a bad update is rejected with one line (kept in ``rejected``), the state untouched;
* the positions file is watched (size and mtime): a change reloads it and refreshes; a bad new file is rejected
  with one line and the previous book kept;
* the model aliases are re-read every ``alias_check_s`` seconds: a move refreshes (the registry down: the non-model
  methods, with the reason in ``models_status``);
* new market data (the prices file or folder changed: the daily pipeline's delivery) are reloaded through the gate
  and the state refreshed as of their last date, in the background, swapped in when built (the live day roll);
* in a replay, a day roll (an update after the next close) refreshes as of the closed day, in a background thread
  started at the day's first update (the file already holds the close; in live use the refresh runs overnight,
  and the compressed replay has no night), so the next update rarely waits for it;
* after every snapshot the checkpoint (the snapshot, the live prices, the detector's bands, the landing files read)
  is written atomically: a killed monitor restarts from it (same close: its live prices and snapshot ids go on).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from risk_platform.alerts import Alert, AlertSink, alerts_for, open_episodes, read_alerts, triage_alerts
from risk_platform.errors import InputError
from risk_platform.io import append_line, atomic_write_text
from risk_platform.monitor.live import DAY_FIGURES, HEADLINE_KEYS, LiveFigures, LiveState
from risk_platform.monitor.page import json_safe, limit_threshold_usd
from risk_platform.monitor.updates import PriceUpdate, UpdateRejected, parse_update
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.limits import LimitResult, LimitSet, evaluate_limits

log = logging.getLogger(__name__)
CHECKPOINT = "monitor_checkpoint.json"
RECENT_ROWS = 240  # headline rows kept in the checkpoint for the Dagster side's chart
ANOMALY_HOLD = pd.Timedelta(minutes=15)  # an anomaly's alert episode stays open this long after its last alarm


LATENCY_WINDOW = 100_000  # updates the latency and memory figures cover (a day at 1 Hz): bounded memory


@dataclass
class Latency:
    """Update-to-published latencies (ms) and resident memory samples over the last ``LATENCY_WINDOW`` updates."""

    samples: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    waits: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))  # waits for a refresh (day roll)
    rss_mb: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))

    def summary(self) -> dict:
        ms = np.asarray(self.samples) if self.samples else np.array([np.nan])
        rss = list(self.rss_mb)
        base = float(np.median(rss[: max(1, len(rss) // 10)])) if rss else float("nan")
        tail = float(np.median(rss[-max(1, len(rss) // 10):])) if rss else float("nan")
        return {"p50_ms": round(float(np.nanpercentile(ms, 50)), 2),
                "p99_ms": round(float(np.nanpercentile(ms, 99)), 2),
                "max_ms": round(float(np.nanmax(ms)), 2), "mean_ms": round(float(np.nanmean(ms)), 2),
                "refresh_waits": len([w for w in self.waits if w > 1.0]),
                "rss_start_mb": round(base, 1), "rss_end_mb": round(tail, 1),
                "rss_mb_by_tenth": [round(float(np.median(part)), 1) for part in np.array_split(rss, 10) if len(part)],
                "rss_growth_pct": round(100.0 * (tail - base) / base, 2) if base == base and base > 0 else None}


def release_freed_memory() -> None:
    """Hand freed heap back to the OS (glibc ``malloc_trim``; ctypes releases the GIL meanwhile): each refresh
    replaces tens of MB of arrays, and without it a long-running monitor's RSS drifts with the allocator's
    fragmentation (measured: 1.08-1.20 GB over 29 day rolls without, 0.91-0.96 GB with). A no-op without glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_mb() -> float:
    """This process's resident set size in MB (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


class Monitor:
    """The live monitor (module docstring). ``refresh(asof, portfolio)`` builds a :class:`LiveState` (a full
    refresh); ``publishers`` get every snapshot (``publish(snapshot) -> dict`` of per-sink statuses);
    ``detector``: an :class:`~risk_platform.monitor.anomaly.AnomalyDetector` (each close observed, each update
    checked; warmed at a fresh start on ``history(state)``, the book's daily metrics); ``page`` has ``publish``."""

    def __init__(self, refresh: Callable[[pd.Timestamp | None, Portfolio], LiveState], portfolio: Portfolio,
                 load_portfolio: Callable[[], Portfolio], positions_file: Path | None, limits: LimitSet,
                 alert_sink: AlertSink, state_dir: Path, *, publisher=None, detector=None, page=None,
                 aliases: Callable[[], dict] | None = None, alias_check_s: float = 30.0,
                 deliver_alerts: Callable[[list[Alert]], None] | None = None,
                 history: Callable[[LiveState], pd.DataFrame] | None = None,
                 market_stamp: Callable[[], object] | None = None,
                 reload_market: Callable[[], None] | None = None, record: Path | None = None) -> None:
        self._refresh, self._load_portfolio, self.portfolio = refresh, load_portfolio, portfolio
        self.positions_file = positions_file
        self._positions_stamp = path_stamp(positions_file)
        self.limits, self.alert_sink, self.state_dir = limits, alert_sink, Path(state_dir)
        self.publisher, self.detector, self.page = publisher, detector, page
        self._aliases, self.alias_check_s = aliases, alias_check_s
        self._deliver_alerts = deliver_alerts
        self._history = history
        self._market_stamp, self._reload_market = market_stamp, reload_market
        self._market_seen = market_stamp() if market_stamp is not None else None
        self._pending_when_done = False  # a refresh for new market data: swapped in as soon as it is built
        self._pending_close: pd.Timestamp | None = None  # a day roll's close: swapped in by the first update after it
        self.record = Path(record) if record is not None else None  # every snapshot's figures, one JSON line each
        self._close_observation: dict | None = None
        self._close_anomalies: list = []
        self.state: LiveState | None = None
        self.live: dict[str, float] = {}
        self.last_time: pd.Timestamp | None = None
        self.seq = 0
        self.latency = Latency()
        self.rejected: deque[str] = deque(maxlen=50)  # the latest rejections, one line each
        self.rejected_updates = 0
        self.published = 0
        self.anomalies = 0
        self.alerts_sent = 0
        self.rolls = 0
        self.refreshes: list[str] = []
        self._last_anomaly: dict[str, dict] = {}
        self._records: list[dict] = []
        self._log_stamp: tuple | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-refresh")
        self._pending: Future | None = None
        self._pending_reason = ""
        self._alias_seen: dict | None = None
        self._alias_checked = 0.0
        self._alias_future: Future | None = None
        self.recent: deque[dict] = deque(maxlen=RECENT_ROWS)
        self.seen_files: set[str] = set()

    # ---------------------------------------------------------------------------------------------- state

    def start(self, asof: pd.Timestamp | None = None, next_close: pd.Timestamp | None = None) -> None:
        """The first full refresh, then the checkpoint's live state when it is for the same close."""
        self.state = self._refresh(asof, self.portfolio, next_close)
        self.refreshes.append(f"start: as of {self.state.asof:%Y-%m-%d} in {self.state.built_ms:.0f} ms")
        self._alias_seen = self._aliases() if self._aliases else None
        self._alias_checked = time.monotonic()
        if not self._restore() and self.detector is not None:
            if self._history is not None:
                self.detector.warm(self._history(self.state))
            start = close_metrics(self.state)
            self.detector.rebase(start)
            self._close_observation = {"time": self.state.clock.last_close.isoformat(), "start": True, **start}

    def _restore(self) -> bool:
        """The checkpoint's snapshot id, detector bands and (same close) live prices; False when there is none."""
        path = self.state_dir / CHECKPOINT
        if not path.is_file():
            return False
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("monitor checkpoint %s unreadable (%s): starting fresh", path, exc)
            return False
        self.seq = int(saved.get("snapshot_id", 0))
        self.seen_files.update(saved.get("seen_files", []))
        if self.detector is not None and saved.get("detector"):
            self.detector = type(self.detector).from_state(saved["detector"])
        self.recent.extend(saved.get("recent", []))
        if saved.get("asof") == f"{self.state.asof:%Y-%m-%d}":
            self.live = {k: float(v) for k, v in saved.get("live", {}).items()}
            self.last_time = pd.Timestamp(saved["time"]) if saved.get("time") else None
        self.refreshes.append(f"restarted from snapshot {self.seq} ({saved.get('time')})")
        return True

    def _checkpoint(self, snapshot: dict) -> None:
        atomic_write_text(self.state_dir / CHECKPOINT, json.dumps({
            "snapshot_id": self.seq, "asof": f"{self.state.asof:%Y-%m-%d}", "time": snapshot["time"],
            "live": self.live, "snapshot": snapshot, "seen_files": sorted(self.seen_files), "recent": list(self.recent),
            "detector": self.detector.state() if self.detector is not None else None}, default=str))

    def _swap(self, state: LiveState, reason: str) -> None:
        self.state = state
        self.refreshes = [*self.refreshes[-49:], f"{reason}: as of {state.asof:%Y-%m-%d} in {state.built_ms:.0f} ms"]
        self._pool.submit(release_freed_memory)  # the old state is freed once this returns (off the update path)

    def _maybe_refresh(self, update_time: pd.Timestamp) -> None:
        """Positions changed, aliases moved, or a day roll due: refresh (waiting for a background one)."""
        self._watch_market()
        if self._pending is not None and ((self._pending_close is not None and update_time > self._pending_close)
                                          or (self._pending_when_done and self._pending.done())):
            waited = time.perf_counter()
            state, metrics = self._pending.result()
            self.latency.waits.append(1000 * (time.perf_counter() - waited))
            self._pending, self._pending_when_done, self._pending_close = None, False, None
            new_close = state.asof != self.state.asof
            self._swap(state, self._pending_reason)
            if new_close:
                self.live = {}
                self.rolls += 1
                if self.detector is not None:  # the new close's 1-day figures: the bands' daily observation
                    self._close_anomalies = self.detector.observe(metrics, state.clock.last_close)
                self._close_observation = {"time": state.clock.last_close.isoformat(), **metrics}
        stamp = path_stamp(self.positions_file)
        if stamp != self._positions_stamp:
            self._positions_stamp = stamp
            try:
                book = self._load_portfolio()
            except (InputError, OSError) as exc:
                reason = " ".join(str(exc).split())
                self.rejected.append(f"positions file change rejected, previous book kept: {reason}")
            else:
                self.portfolio = book
                self._refresh_same_close("positions changed")
        self._check_aliases()

    def _refresh_same_close(self, reason: str) -> None:
        """A full refresh on the current close and session (the book or the models changed, not the market)."""
        clock = self.state.clock
        self._swap(self._refresh(self.state.asof, self.portfolio, clock.next_close.tz_localize(None).normalize()),
                   reason)

    def _watch_market(self) -> None:
        """New daily market data (the prices file or folder changed): reload them through the gate and refresh as of
        their last date, in the background; swapped in when built (a live monitor's day roll)."""
        if self._market_stamp is None or self._pending is not None:
            return
        stamp = self._market_stamp()
        if stamp == self._market_seen:
            return
        self._market_seen = stamp
        self._pending_reason, self._pending_when_done = "new market data", True
        self._pending = self._pool.submit(self._reload_and_roll)

    def _reload_and_roll(self) -> tuple[LiveState, dict[str, float]]:
        if self._reload_market is not None:
            self._reload_market()
        return self._roll(None, self.portfolio, None)

    def _check_aliases(self) -> None:
        if self._aliases is None:
            return
        if self._alias_future is not None and self._alias_future.done():
            seen, self._alias_future = self._alias_future.result(), None
            if seen != self._alias_seen:
                self._alias_seen = seen
                self._refresh_same_close("model aliases moved")
        elif self._alias_future is None and time.monotonic() - self._alias_checked >= self.alias_check_s:
            self._alias_checked = time.monotonic()
            self._alias_future = self._pool.submit(self._aliases)

    def _start_roll(self, close_of: pd.Timestamp, next_close: pd.Timestamp | None) -> None:
        """Refresh as of ``close_of`` in the background; swapped in by the first update after that close."""
        if self._pending is None and close_of > self.state.asof:
            clock = self.state.clock
            self._pending_close = close_of.normalize().tz_localize("UTC") + (clock.last_close
                                                                             - clock.last_close.normalize())
            self._pending_reason = f"day roll to {close_of:%Y-%m-%d}"
            self._pending = self._pool.submit(self._roll, close_of, self.portfolio, next_close)

    def _roll(self, close_of: pd.Timestamp | None, book: Portfolio, next_close: pd.Timestamp | None
              ) -> tuple[LiveState, dict[str, float]]:
        state = self._refresh(close_of, book, next_close)
        return state, close_metrics(state)

    # ---------------------------------------------------------------------------------------------- updates

    def handle(self, raw: dict) -> dict | None:
        """One raw update: the published snapshot, or None when it was rejected."""
        received = raw.get("received", time.perf_counter())
        try:
            if raw.get("error"):
                raise UpdateRejected(raw["error"])
            update = parse_update(raw, frozenset(self.state.market.instruments.index), raw.get("source", "update"),
                                  self.last_time)
        except UpdateRejected as exc:
            self.rejected.append(str(exc))
            self.rejected_updates += 1
            log.warning("update rejected: %s", exc)
            self._replay_schedule(raw)  # a replay's closes go on whatever the update's prices
            return None
        self._maybe_refresh(update.time)
        self._replay_schedule(raw)
        self.live.update(update.prices)
        self.last_time = update.time
        figures = self.state.revalue(self.live, update.time)
        return self._snapshot(update, figures, received)

    def _replay_schedule(self, raw: dict) -> None:
        """A replay's day roll: prepared from the day's first update (``prepare_close``), or at its close when that
        was missed (``close_of``)."""
        day = raw.get("prepare_close") or raw.get("close_of")
        if day:
            following = raw.get("next_close")
            self._start_roll(pd.Timestamp(day), pd.Timestamp(following) if following else None)

    def _snapshot(self, update: PriceUpdate, figures: LiveFigures, received: float) -> dict:
        self.seq += 1
        report = figures.report
        live_report = live_report_dict(figures, self.state)
        results = evaluate_limits(live_report, self.limits)
        raised, self._close_anomalies = self._close_anomalies, []
        if self.detector is not None:
            raised = raised + self.detector.check(risk_metrics(figures), update.time)
        self.anomalies += len(raised)
        for anomaly in raised:
            self._last_anomaly[anomaly.metric] = anomaly.to_dict()
        anomaly_results = self._anomaly_results(update.time)
        alerts = self._alerts(results, anomaly_results, live_report)
        state = self.state
        snapshot = {
            "snapshot_id": self.seq, "time": update.time.isoformat(), "asof": f"{state.asof:%Y-%m-%d}",
            "portfolio": state.portfolio.name, "nav_usd": float(report.nav),
            "loss_so_far_usd": figures.loss_so_far, **figures.day,
            "var_99_1d_live": float(report.var_99), "es_99_1d_live": float(report.es_99),
            "portfolio_volatility": float(report.portfolio_volatility),
            "diversification_ratio": figures.diversification_ratio,
            "horizon": {"remaining_fraction": figures.remaining_fraction,
                        "next_close": state.clock.next_close.isoformat(),
                        "statement": state.clock.statement(figures.remaining_fraction)},
            "bound_by": {key: report.bound_by.get(HEADLINE_KEYS[key], "") for key in DAY_FIGURES},
            "methods": figures.methods, "model_versions": state.models.versions,
            "models_status": state.models.status, "current_regime": report.current_regime,
            "stress_worst": _worst_stress(state), "symbols_updated": sorted(update.prices),
            "source": update.source,
            "limits": [r.to_dict() for r in results + anomaly_results],
            "alerts_open": self._open_alerts(live_report["portfolio"]),
            "alerts_sent": [a.to_dict() for a in alerts],
            "anomalies": [a.to_dict() for a in raised], "refreshes": self.refreshes[-3:],
            "rejected_recent": list(self.rejected)[-3:], "compute_ms": figures.compute_ms,
        }
        snapshot = json_safe(snapshot)  # strict JSON for the page and the sinks: a figure that is not finite is null
        if self.page is not None:
            self.page.publish(snapshot)
        snapshot["published_at"] = pd.Timestamp.now(tz="UTC").isoformat()
        snapshot["latency_ms"] = round(1000 * (time.perf_counter() - received), 2)
        if self.publisher is not None:
            snapshot["delivery"] = self.publisher.publish(snapshot)
        self.published += 1
        latency = 1000 * (time.perf_counter() - received)
        self.latency.samples.append(latency)
        self.latency.rss_mb.append(rss_mb())
        self.recent.append(headline_row(snapshot))
        if self.record is not None:
            append_line(self.record, json.dumps(json_safe(record_row(snapshot, figures, self._close_observation))))
        self._close_observation = None
        self._checkpoint(snapshot)
        return snapshot

    def _anomaly_results(self, now: pd.Timestamp) -> list[LimitResult]:
        """Each metric's anomaly as a WARN finding while its last alarm is less than ``ANOMALY_HOLD`` old (``ok``
        after: the episode clears)."""
        out = []
        for metric, last in self._last_anomaly.items():
            open_ = now - pd.Timestamp(last["time"]) <= ANOMALY_HOLD
            out.append(LimitResult(limit=f"anomaly_{metric}", family="anomaly", metric=metric,
                                   status="warn" if open_ else "ok", severity="warn" if open_ else None,
                                   figure=last["value"], threshold=None, warn_threshold=None, breach_threshold=None,
                                   utilisation=None, unit="USD" if metric != "diversification_ratio" else "ratio",
                                   limit_severity="warn", message=last["message"] if open_ else
                                   f"{metric} back inside its band"))
        return out

    def _alerts(self, results: list[LimitResult], anomaly_results: list[LimitResult], report: dict) -> list[Alert]:
        """The alert episode events of this snapshot (the Dagster assets' log and triage), appended and sent."""
        run = f"live monitor snapshot {self.seq}"
        fired = (alerts_for(results, report, run_id=run, alert_on=self.limits.alert_on)
                 + alerts_for(anomaly_results, report, run_id=run, alert_on=("warn",)))
        self._reload_alert_log()
        triage = triage_alerts(fired, results + anomaly_results, report, self._records,
                               self.alert_sink.renotify_after, run_id=run)
        if self._deliver_alerts is not None:
            self._deliver_alerts(triage.notify)  # every snapshot: what a webhook outage spooled goes when it is back
        elif triage.notify:
            self.alert_sink.emit(triage.notify)
        if triage.notify:
            self._records.extend(a.to_dict() for a in triage.notify)
            self._log_stamp = path_stamp(self.alert_sink.jsonl_path)
            self.alerts_sent += len(triage.notify)
        return triage.notify

    def _reload_alert_log(self) -> None:
        """Re-read the alert log when another writer (the Dagster assets) appended to it."""
        stamp = path_stamp(self.alert_sink.jsonl_path)
        if stamp != self._log_stamp:
            self._records = read_alerts(self.alert_sink.jsonl_path)
            self._log_stamp = stamp

    def _open_alerts(self, portfolio: str) -> list[dict]:
        return [{"limit": a.limit, "status": a.status, "opened_at": a.opened_at, "message": a.message,
                 "family": a.family}
                for key, a in open_episodes(self._records).items() if key[0] == portfolio]

    # ------------------------------------------------------------------------------------------------ loop

    def run(self, updates: Iterable[dict], stop: threading.Event | None = None,
            on_snapshot: Callable[[dict], None] | None = None) -> None:
        """Handle ``updates`` until they end or ``stop`` is set (SIGTERM): the current update finishes, the
        checkpoint is on disk."""
        for raw in updates:
            if stop is not None and stop.is_set():
                break
            snapshot = self.handle(raw)
            if snapshot is not None and on_snapshot is not None:
                on_snapshot(snapshot)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for part in (self.publisher, self.page):
            closer = getattr(part, "close", None) or getattr(part, "stop", None)
            if closer is not None:
                closer()

    def summary(self) -> dict:
        """The run's figures (``--json``)."""
        return {"updates": self.published + self.rejected_updates, "published": self.published,
                "rejected": self.rejected_updates, "anomalies": self.anomalies, "alerts_sent": self.alerts_sent,
                "day_rolls": self.rolls, **self.latency.summary(),
                "last_snapshot_id": self.seq, "refreshes": self.refreshes, "rejections": list(self.rejected)[-5:],
                "models_status": self.state.models.status if self.state else None}


def record_row(snapshot: dict, figures: LiveFigures, close_observation: dict | None) -> dict:
    """What ``--record`` keeps of a snapshot (incident reviews, the detector's replay evaluation): the headline
    figures, the detector's metrics, its close observation when the snapshot follows a new close, the anomalies
    and the limits' statuses."""
    return {**headline_row(snapshot), "snapshot_id": snapshot["snapshot_id"], "asof": snapshot["asof"],
            "metrics": risk_metrics(figures), "close_observation": close_observation,
            "anomalies": [a["metric"] for a in snapshot["anomalies"]],
            "limits": {r["limit"]: r["status"] for r in snapshot["limits"]}, "latency_ms": snapshot["latency_ms"]}


def headline_row(snapshot: dict) -> dict:
    """The figures of a snapshot the Dagster side charts (USD, losses positive)."""
    return {"time": snapshot["time"], "var_99": snapshot["var_99"], "es_99": snapshot["es_99"],
            "var_99_1d_live": snapshot["var_99_1d_live"],
            "loss_so_far_usd": snapshot["loss_so_far_usd"], "var_99_limit_usd": limit_threshold_usd(snapshot)}


def risk_metrics(figures: LiveFigures) -> dict[str, float]:
    """What the anomaly detector watches: the live book's 1-day figures (not the day's, which shrink to the
    realised loss as the session ends), the volatility and the diversification ratio."""
    report = figures.report
    return {"var_99": float(report.var_99), "es_99": float(report.es_99),
            "portfolio_volatility": float(report.portfolio_volatility),
            "diversification_ratio": figures.diversification_ratio}


def close_metrics(state: LiveState) -> dict[str, float]:
    """The detector's metrics at the close a state starts from (no move yet)."""
    return risk_metrics(state.revalue({}, state.clock.last_close))


def live_report_dict(figures: LiveFigures, state: LiveState) -> dict:
    """The live report as the limits read it: the live book's report with the day's figures as its headline."""
    report = figures.report.to_dict()
    day = figures.day
    report.update({"var_95": day["var_95"], "var_99": day["var_99"], "cvar_95": day["es_95"], "es_95": day["es_95"],
                   "es_99": day["es_99"], "loss_so_far": figures.loss_so_far})
    report["bound_by"] = {**report["bound_by"], **{
        key: f"day: loss so far + sqrt({figures.remaining_fraction:.3f}) x {report['bound_by'].get(key, '')}"
        for key in ("var_95", "var_99", "cvar_95", "es_95", "es_99")}}
    report["model_versions"] = state.models.versions
    return report


def _worst_stress(state: LiveState) -> dict:
    """The worst stress result of the refresh's daily report (name and loss, USD, losses positive)."""
    ranked = state.daily.stress_losses()
    if not ranked:
        return {}
    return {"scenario": ranked[0]["name"], "loss_usd": -float(ranked[0]["pnl"]), "asof": f"{state.asof:%Y-%m-%d}"}


def path_stamp(path: Path | None) -> tuple | None:
    """(size, mtime) of a file, or of every file directly in a folder (a delivery of several files); None when
    absent."""
    if path is None:
        return None
    try:
        if os.path.isdir(path):
            return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(path)
                                if e.is_file() and not e.name.startswith(".")))
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns

