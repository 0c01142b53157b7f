"""Forecast losses, in one neutral module (models and validation both score with it): variance forecasts
against a realized proxy (the next day's squared return).

QLIKE (Patton 2011, robust to noise in the proxy): ``L(s2, h) = s2 / h - log(s2 / h) - 1``, zero for a
perfect forecast, in the units-free ratio ``s2 / h``. Days with a zero realized proxy have no defined QLIKE
(``log 0``); they are left out and counted. MSE is ``(s2 - h)**2`` in the series' squared units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from risk_platform.errors import ComputationError


@dataclass(frozen=True)
class ForecastLoss:
    """Mean QLIKE and MSE over ``n`` days (``n_zero`` zero-proxy days left out of QLIKE)."""

    qlike: float
    mse: float
    n: int
    n_zero: int


def qlike(realized: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Per-day QLIKE; NaN where the realized proxy is zero. Shapes (n,) -> (n,)."""
    realized = np.asarray(realized, dtype=float)
    forecast = np.asarray(forecast, dtype=float)
    if np.any(forecast <= 0) or not np.all(np.isfinite(forecast)):
        raise ComputationError("variance forecasts must be positive and finite")
    ratio = realized / forecast
    with np.errstate(divide="ignore"):
        out = ratio - np.log(ratio) - 1.0
    return np.where(realized > 0, out, np.nan)


def qlike_one(realized: float, forecast: float) -> float:
    """:func:`qlike` of one forecast; NaN where it is undefined: a missing or zero proxy, or a forecast that
    is not positive and finite (a day to leave unscored rather than an error)."""
    if not (np.isfinite(realized) and realized > 0 and np.isfinite(forecast) and forecast > 0):
        return float("nan")
    return float(qlike(np.array([realized]), np.array([forecast]))[0])


def forecast_loss(realized: np.ndarray, forecast: np.ndarray) -> ForecastLoss:
    """Mean QLIKE (over days with a positive proxy) and MSE of variance forecasts."""
    losses = qlike(realized, forecast)
    return ForecastLoss(
        qlike=float(np.nanmean(losses)),
        mse=float(np.mean((np.asarray(realized) - np.asarray(forecast)) ** 2)),
        n=len(losses),
        n_zero=int(np.isnan(losses).sum()),
    )
