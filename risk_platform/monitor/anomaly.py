"""Anomalies in the live monitor's risk metrics: a band per metric learned from the metric's own recent history.

The band is on the metric's **log change** between consecutive observations, ``d_t = log(v_t / v_{t-1})``: its
exponentially weighted mean ``mu`` and variance ``s2`` (weight ``1 - lam`` on the newest change; equal weights,
``1 / n``, while fewer than ``1 / (1 - lam)`` changes are seen, so the first estimates are plain averages). The
band for the next value is ``v_{t-1} * exp(mu -/+ k * s)`` with ``s = max(sqrt(s2), min_sigma)``; a value outside
it is an :class:`Anomaly` with score ``(d_t - mu) / s`` (two-sided: a risk figure that jumps or collapses).
Working on changes, a level shift alarms once, at the shift, and the band re-centres on the new level at once.

* warm-up: no alarm until a metric has ``warmup`` (default 20) changes behind it (its band is still learned);
* cool-down: after an alarm on a metric, that metric does not alarm again for its next ``cooldown`` (default 5)
  observations (a shock that moves a figure over several updates alarms once); the band keeps learning;
* an outlier updates the band winsorised at the band's edge, so one shock does not widen it for weeks;
* a missing, NaN, infinite or non-positive value is skipped (no alarm, no update; the next change is measured
  from the last value seen); an observation not after the last one is ignored (a restarted monitor replaying
  an update does not count it twice).

Live use: :meth:`AnomalyDetector.observe` learns from one observation a day (the close: the bands keep the
daily scale they were tuned on) and :meth:`AnomalyDetector.check` tests every intraday update against the band of
the coming close without learning; the monitor warms the bands on the book's daily history at start
(:meth:`AnomalyDetector.warm`, :func:`~risk_platform.monitor.metric_history.book_metric_history`) and measures the
next changes from its own figures (:meth:`AnomalyDetector.rebase`). On those figures (the live book's binding
method, not historical simulation alone) the width was tuned again, on 2004-2009 replays through the monitor, and
reported once on 2010-2019 (``python -m bench.monitor_replay``): the monitor runs with k = 5 (0.019 false-alarm
days per trading day on the test period).

``k``, ``lam`` and ``min_sigma`` were tuned on the sample book's 2004-2009 daily metrics for at most one false
alarm per 20 trading days, and reported once on 2010-2019 (``python -m bench.monitor_anomaly``; the defaults are
the tuned values). Measured there: 0.062 false-alarm days per trading day on the test period (15.5 a year, above
the target), and alarm days inside the crisis windows no more frequent than outside (0.060 a day): the detector
flags unusual moves of the figures, it does not forecast crises. The detector's state is a JSON-serialisable
dict (:meth:`AnomalyDetector.state`, :meth:`AnomalyDetector.from_state`), so a restarted monitor resumes its bands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from risk_platform.errors import InputError

DEFAULT_METRICS = ("var_99", "es_99", "portfolio_volatility", "diversification_ratio")
UNITS = {"var_95": "USD", "var_99": "USD", "es_95": "USD", "es_99": "USD", "portfolio_volatility": "USD",
         "nav_usd": "USD", "loss_so_far_usd": "USD", "diversification_ratio": "x"}
DEFAULT_K = 3.0  # tuned (bench.monitor_anomaly): the most sensitive setting within the false-alarm target
DEFAULT_LAMBDA = 0.99
DEFAULT_MIN_SIGMA = 0.01
DEFAULT_WARMUP = 20
DEFAULT_COOLDOWN = 5
STATE_VERSION = 1
SIGMA_EPSILON = 1e-9  # the band's least sd of the log change when min_sigma is 0 (a flat history)


def utc_time(time: pd.Timestamp | str) -> pd.Timestamp:
    """``time`` as a UTC timestamp (a naive one is taken as UTC); :class:`InputError` when it cannot be read."""
    try:
        stamp = pd.Timestamp(time)
    except (TypeError, ValueError) as exc:
        raise InputError(f"anomaly detector: unreadable time {time!r}") from exc
    if pd.isna(stamp):
        raise InputError(f"anomaly detector: unreadable time {time!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def format_value(value: float, unit: str) -> str:
    """``value`` with its unit: ``USD 12,345,678`` or ``2.41x`` (no unit: 4 significant digits)."""
    if unit == "USD":
        return f"USD {value:,.0f}"
    if unit == "x":
        return f"{value:.3f}x"
    return f"{value:.4g}" + (f" {unit}" if unit else "")


def _positive(value: object) -> float | None:
    """``value`` as a finite positive float, else None (skipped)."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


@dataclass(frozen=True)
class Anomaly:
    """A metric's value outside its learned band ``[low, high]`` at ``time`` (UTC); ``score``: its log change from
    the previous value in band standard deviations (positive: up)."""

    metric: str
    value: float
    low: float
    high: float
    time: pd.Timestamp
    score: float
    message: str

    def to_dict(self) -> dict:
        """Plain JSON values (``time`` ISO-8601 UTC)."""
        return {"metric": self.metric, "value": self.value, "low": self.low, "high": self.high,
                "time": self.time.isoformat(), "score": self.score, "message": self.message}


@dataclass
class _Band:
    """One metric's learned band: changes seen, EW mean and variance of the log change, the last log value and
    the observations left in its cool-down."""

    n: int = 0
    mu: float = 0.0
    var: float = 0.0
    last_log: float | None = None
    cooldown_left: int = 0

    def to_dict(self) -> dict:
        return {"n": self.n, "mu": self.mu, "var": self.var, "last_log": self.last_log,
                "cooldown_left": self.cooldown_left}


@dataclass
class AnomalyDetector:
    """Per metric, a band learned from its own history (see the module docstring); :meth:`observe` one update."""

    metrics: tuple[str, ...] = DEFAULT_METRICS
    k: float = DEFAULT_K
    lam: float = DEFAULT_LAMBDA
    min_sigma: float = DEFAULT_MIN_SIGMA
    warmup: int = DEFAULT_WARMUP
    cooldown: int = DEFAULT_COOLDOWN
    _bands: dict[str, _Band] = field(default_factory=dict, repr=False)
    _last_time: pd.Timestamp | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.metrics = tuple(self.metrics)
        if not self.metrics:
            raise InputError("anomaly detector: no metrics to watch")
        if not (self.k > 0 and 0 < self.lam < 1 and self.min_sigma >= 0 and self.warmup >= 1 and self.cooldown >= 0):
            raise InputError(f"anomaly detector: invalid settings k={self.k}, lam={self.lam}, min_sigma="
                             f"{self.min_sigma}, warmup={self.warmup}, cooldown={self.cooldown} (need k > 0,"
                             " 0 < lam < 1, min_sigma >= 0, warmup >= 1, cooldown >= 0)")
        for metric in self.metrics:
            self._bands.setdefault(metric, _Band())

    def observe(self, values: Mapping[str, float], time: pd.Timestamp | str) -> list[Anomaly]:
        """The anomalies of one update (``values``: metric -> value; others ignored) at ``time``; learns the bands."""
        stamp = utc_time(time)
        if self._last_time is not None and stamp <= self._last_time:
            return []
        self._last_time = stamp
        found = []
        for metric in self.metrics:
            anomaly = self._observe_one(metric, values.get(metric), stamp)
            if anomaly is not None:
                found.append(anomaly)
        return found

    def check(self, values: Mapping[str, float], time: pd.Timestamp | str) -> list[Anomaly]:
        """Intraday: the values against the band of the next observation (the last observed value's band), without
        learning: the bands stay those of the observations they were tuned on (one a day, :meth:`observe` at each
        close). An alarm starts the metric's cool-down, so the move alarms once (not again at the close)."""
        stamp = utc_time(time)
        found = []
        for metric in self.metrics:
            band = self._bands[metric]
            v = _positive(values.get(metric))
            if v is None or band.last_log is None or band.n < self.warmup or band.cooldown_left > 0:
                continue
            d = math.log(v) - band.last_log
            sigma = max(math.sqrt(band.var), self.min_sigma, SIGMA_EPSILON)
            lo_d, hi_d = band.mu - self.k * sigma, band.mu + self.k * sigma
            if not lo_d <= d <= hi_d:
                found.append(self._anomaly(metric, v, band.last_log, lo_d, hi_d, (d - band.mu) / sigma, stamp))
                band.cooldown_left = self.cooldown + 1  # the +1: today's close observation
        return found

    def warm(self, history: pd.DataFrame) -> None:
        """Learn the bands from a daily history (date index, one column per metric), silently."""
        for day, row in history.iterrows():
            self.observe(row.to_dict(), day)
        for band in self._bands.values():
            band.cooldown_left = 0

    def rebase(self, values: Mapping[str, float]) -> None:
        """Measure the next changes from ``values`` (e.g. the live figures at the close the monitor starts from,
        after :meth:`warm` on a history of another estimator's levels), without learning."""
        for metric in self.metrics:
            v = _positive(values.get(metric))
            if v is not None:
                self._bands[metric].last_log = math.log(v)

    def _observe_one(self, metric: str, value: object, stamp: pd.Timestamp) -> Anomaly | None:
        v = _positive(value)
        if v is None:
            return None
        band = self._bands[metric]
        log_v = math.log(v)
        if band.last_log is None:
            band.last_log = log_v
            return None
        d = log_v - band.last_log
        sigma = max(math.sqrt(band.var), self.min_sigma, SIGMA_EPSILON)
        lo_d, hi_d = band.mu - self.k * sigma, band.mu + self.k * sigma
        anomaly = None
        armed = band.n >= self.warmup
        if band.cooldown_left > 0:
            band.cooldown_left -= 1
        elif armed and not lo_d <= d <= hi_d:
            anomaly = self._anomaly(metric, v, band.last_log, lo_d, hi_d, (d - band.mu) / sigma, stamp)
            band.cooldown_left = self.cooldown
        self._learn(band, min(max(d, lo_d), hi_d) if armed else d)
        band.last_log = log_v
        return anomaly

    def _learn(self, band: _Band, d: float) -> None:
        """One change into the band's EW mean and variance (weight ``max(1 - lam, 1 / n)``: equal weights first)."""
        band.n += 1
        a = max(1.0 - self.lam, 1.0 / band.n)
        diff = d - band.mu
        band.mu += a * diff
        band.var = (1.0 - a) * (band.var + a * diff * diff)

    def _anomaly(self, metric: str, value: float, last_log: float, lo_d: float, hi_d: float, score: float,
                 stamp: pd.Timestamp) -> Anomaly:
        low, high = math.exp(last_log + lo_d), math.exp(last_log + hi_d)
        unit = UNITS.get(metric, "")
        side = "above" if score > 0 else "below"
        message = (f"{metric} {format_value(value, unit)} is {side} its band {format_value(low, unit)} .."
                   f" {format_value(high, unit)} (previous {format_value(math.exp(last_log), unit)}; score"
                   f" {score:+.1f} sd of its log change, band k = {self.k:g})")
        return Anomaly(metric, value, low, high, stamp, score, message)

    # ------------------------------------------------------------------------------------------ state

    def state(self) -> dict:
        """The settings and every band, as plain JSON values (:meth:`from_state` resumes from it)."""
        return {"version": STATE_VERSION, "metrics": list(self.metrics), "k": self.k, "lam": self.lam,
                "min_sigma": self.min_sigma, "warmup": self.warmup, "cooldown": self.cooldown,
                "last_time": None if self._last_time is None else self._last_time.isoformat(),
                "bands": {m: self._bands[m].to_dict() for m in self.metrics}}

    @classmethod
    def from_state(cls, state: Mapping) -> AnomalyDetector:
        """The detector :meth:`state` saved; :class:`InputError` naming what is wrong with ``state`` otherwise."""
        if not isinstance(state, Mapping) or state.get("version") != STATE_VERSION:
            raise InputError(f"anomaly detector state: expected a dict with version {STATE_VERSION}")
        try:
            detector = cls(tuple(state["metrics"]), float(state["k"]), float(state["lam"]),
                           float(state["min_sigma"]), int(state["warmup"]), int(state["cooldown"]))
            for metric in detector.metrics:
                b = state["bands"][metric]
                detector._bands[metric] = _Band(int(b["n"]), float(b["mu"]), float(b["var"]),
                                                None if b["last_log"] is None else float(b["last_log"]),
                                                int(b["cooldown_left"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"anomaly detector state: missing or invalid entry {exc}") from exc
        if state.get("last_time") is not None:
            detector._last_time = utc_time(state["last_time"])
        return detector
