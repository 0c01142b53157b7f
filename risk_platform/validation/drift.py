"""Drift of the monitored LSTM version: its recent forecast quality against what validation expects.

Two signals over the last ``window`` days (point in time: forecasts made at t-1, realized at t):

* rolling QLIKE of the LSTM's next-day variance against EWMA(0.94), pooled over the series; a breach when
  the ratio exceeds ``max_qlike_ratio`` (EWMA is the floor a promoted LSTM had to beat);
* the exception rate of the validation book's 99% VaR built on the LSTM (normal, LSTM volatilities, EWMA
  correlations; :mod:`risk_platform.validation.crisis`); a breach when the Basel zone is red or Kupiec's p
  is below ``min_kupiec_p``.

A breach is recorded as a monitoring failure (which blocks the version's promotion to ``stable``) and makes
the drift sensor request the retraining job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from torch import nn

from risk_platform.features.market_stress import MarketRoles
from risk_platform.models.baselines import ewma_forecasts, series_returns
from risk_platform.models.datasets import wide_feature
from risk_platform.models.shadow import ShadowComparison, compare_versions
from risk_platform.scoring import forecast_loss
from risk_platform.validation.backtest import backtest
from risk_platform.validation.crisis import (
    book_pnl,
    ewma_correlations,
    forecasts_before,
    lstm_variance_table,
    normal_book_forecast,
)

WINDOW = 250
QLIKE_WINDOW = 63


@dataclass(frozen=True)
class DriftReport:
    """Recent quality of one model version and whether it breached its expectation."""

    model: str
    version: str
    asof: str
    qlike_days: int
    qlike_model: float
    qlike_ewma: float
    qlike_ratio: float
    var_days: int
    exceptions: int
    expected_exceptions: float
    kupiec_p: float
    zone: str
    breach: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        state = "BREACH: " + "; ".join(self.reasons) if self.breach else "within expectation"
        return (f"{self.model} v{self.version} at {self.asof}: QLIKE {self.qlike_model:.3f} vs EWMA"
                f" {self.qlike_ewma:.3f} (ratio {self.qlike_ratio:.3f}, {self.qlike_days} days); book VaR99"
                f" {self.exceptions}/{self.var_days} exceptions (expected {self.expected_exceptions:.1f}),"
                f" zone {self.zone}, Kupiec p {self.kupiec_p:.3f}: {state}")


def lstm_drift(forecaster: nn.Module, symbols: list[str], seq_len: int, daily: pd.DataFrame, exposure: pd.Series,
               version: str, window: int = WINDOW, qlike_window: int = QLIKE_WINDOW, max_qlike_ratio: float = 1.1,
               min_kupiec_p: float = 0.01, market: MarketRoles | None = None) -> DriftReport:
    """Drift signals of a (registered) LSTM over the most recent days of ``daily`` (``market``: its market
    roles, None for a version without market inputs)."""
    dates = pd.DatetimeIndex(sorted(daily["date"].unique()))
    recent = dates[-window:]
    variance = lstm_variance_table(forecaster, daily, symbols, seq_len, since=recent[0] - pd.Timedelta(days=120),
                                   market=market)
    realized, model, baseline = [], [], []
    for symbol in symbols:
        returns = series_returns(daily, symbol)
        scored = returns.index[returns.index >= dates[-qlike_window]]
        ewma = ewma_forecasts(returns).shift(1).reindex(scored)  # the forecast made at the previous session
        lstm = variance[symbol].reindex(returns.index).shift(1).reindex(scored)
        keep = ewma.notna() & lstm.notna()
        realized.append(returns.reindex(scored)[keep].to_numpy() ** 2 / returns.var())
        model.append(lstm[keep].to_numpy() / returns.var())
        baseline.append(ewma[keep].to_numpy() / returns.var())
    r, m, b = (np.concatenate(x) for x in (realized, model, baseline))
    q_model, q_ewma = forecast_loss(r, m), forecast_loss(r, b)
    pnl = book_pnl(daily, exposure)
    pnl = pnl[pnl.index >= recent[0]]
    vols = np.sqrt(forecasts_before(variance.reindex(columns=exposure.index), pnl.index).to_numpy())
    corr = ewma_correlations(wide_feature(daily, "ret").reindex(columns=exposure.index), pnl.index)
    forecast = normal_book_forecast("lstm", pnl, exposure.to_numpy(), vols, corr, 0.99)
    result = backtest(forecast.losses, forecast.var, 0.99, forecast.es)
    ratio = q_model.qlike / q_ewma.qlike
    reasons = []
    if ratio > max_qlike_ratio:
        reasons.append(f"QLIKE {ratio:.2f} x EWMA over {q_model.n} forecasts (limit {max_qlike_ratio})")
    if result.zone == "red" or result.kupiec_p < min_kupiec_p:
        reasons.append(f"book VaR99 exceptions {result.exceptions}/{result.n} (zone {result.zone}, Kupiec p"
                       f" {result.kupiec_p:.3g})")
    return DriftReport("lstm_vol", str(version), f"{dates[-1]:%Y-%m-%d}", int(q_model.n), float(q_model.qlike),
                       float(q_ewma.qlike), float(ratio), result.n, result.exceptions, result.expected_exceptions,
                       result.kupiec_p, result.zone, bool(reasons), tuple(reasons))


def shadow_comparison(current, experimental, daily: pd.DataFrame) -> ShadowComparison:
    """Both versions' forecasts made on the previous day, scored against the latest day's squared return."""
    last = daily["date"].max()
    since = last - pd.Timedelta(days=10)
    tables = [lstm_variance_table(m.module, daily, m.metadata["symbols"], int(m.metadata["seq_len"]), since,
                                  MarketRoles.from_metadata(m.metadata.get("market_inputs")))
              for m in (current, experimental)]
    previous = [t[t.index < last].iloc[-1] for t in tables]
    realized = (wide_feature(daily[daily["date"] == last], "ret").iloc[-1] ** 2).dropna()
    return compare_versions(previous[0].to_dict(), previous[1].to_dict(), realized.to_dict(), asof=last,
                            model="lstm_vol", current_version=current.version,
                            experimental_version=experimental.version)
