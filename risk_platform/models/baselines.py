"""Volatility baselines fitted on the same training window as the LSTM: EWMA (lambda 0.94) and
GARCH(1,1) with Student-t errors (``arch``), producing one-day-ahead variance forecasts out of sample.

Each forecast dated t is for day t+1 and uses returns up to t only; GARCH parameters are estimated on the
training window and held fixed while the filter runs through the test period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk_platform.errors import InputError
from risk_platform.ewma import EWMA_LAMBDA, ewma_variance

MIN_TRAIN_DAYS = 500


@dataclass(frozen=True)
class GarchFit:
    """GARCH(1,1)-t parameters of one series, in the series' own return units."""

    symbol: str
    omega: float
    alpha: float
    beta: float
    nu: float
    scale: float  # returns were divided by this before fitting (numerical conditioning)


def series_returns(daily: pd.DataFrame, symbol: str) -> pd.Series:
    """One series' returns by date (its own sessions), zero-base fallback days counted as no move."""
    rows = daily[daily["symbol"] == symbol].sort_values("date")
    return pd.Series(rows["ret"].fillna(0.0).to_numpy(), index=pd.DatetimeIndex(rows["date"]), name=symbol)


def ewma_forecasts(returns: pd.Series, lam: float = EWMA_LAMBDA) -> pd.Series:
    """Variance forecast for the next day, dated at the forecast origin t."""
    return pd.Series(ewma_variance(returns.to_numpy(), lam), index=returns.index)


def garch_forecasts(returns: pd.Series, train_end: pd.Timestamp) -> tuple[pd.Series, GarchFit]:
    """Fit GARCH(1,1)-t on returns up to ``train_end``; one-day-ahead forecasts dated at each origin t.

    Returns forecasts for every origin from the first day after the training window, and the fit.
    """
    train = returns[returns.index <= train_end]
    if len(train) < MIN_TRAIN_DAYS:
        raise InputError(f"{returns.name}: {len(train)} training days before {train_end:%Y-%m-%d};"
                         f" GARCH needs {MIN_TRAIN_DAYS}")
    from arch import arch_model  # imported here: arch costs about 2 s at start-up

    scale = float(train.std())
    model = arch_model(returns / scale, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False)
    fitted = model.fit(last_obs=len(train), disp="off", show_warning=False)
    params = fitted.params
    forecast = fitted.forecast(horizon=1, start=len(train) - 1, reindex=False)
    variance = forecast.variance.iloc[:, 0] * scale**2
    fit = GarchFit(str(returns.name), float(params["omega"]) * scale**2, float(params["alpha[1]"]),
                   float(params["beta[1]"]), float(params["nu"]), scale)
    return variance, fit


def garch_filter(returns: np.ndarray, fit: GarchFit, start_variance: float) -> np.ndarray:
    """The GARCH recursion ``h_{t+1} = omega + alpha r_t**2 + beta h_t`` from ``start_variance`` (for tests
    and for forecasting with stored parameters). Shape (n,) -> (n,): element t is the forecast for t+1."""
    out = np.empty(len(returns))
    h = start_variance
    for t, r in enumerate(returns):
        h = fit.omega + fit.alpha * r**2 + fit.beta * h
        out[t] = h
    return out


def garch_parameters(daily: pd.DataFrame, train_end: pd.Timestamp) -> pd.DataFrame:
    """GARCH(1,1)-t parameters of every series fitted on returns up to ``train_end`` (one row per symbol)."""
    rows = []
    for symbol in sorted(daily["symbol"].unique()):
        _, fit = garch_forecasts(series_returns(daily, symbol), train_end)
        rows.append({"symbol": symbol, "omega": fit.omega, "alpha": fit.alpha, "beta": fit.beta, "nu": fit.nu,
                     "persistence": fit.alpha + fit.beta})
    return pd.DataFrame(rows)
