"""The one EWMA volatility convention of the platform (RiskMetrics, zero mean).

``s2_t = lam * s2_{t-1} + (1 - lam) * r_t**2``, seeded on day ``warmup - 1`` with the mean of the first
``warmup`` squared returns (earlier days NaN). ``s2_t`` uses returns up to and including day t: it is the
variance *forecast for day t + 1*. A forecast *for* day t (the one a VaR set at the close of t - 1 uses) is
therefore ``s2_{t-1}``: :func:`ewma_variance_forecast` shifts by one day.

Used by the features (``ewma_vol``), the risk engine (filtered HS, the P&L volatility of the regime blend),
the backtests (``ewma``, ``fhs``) and the models' baselines.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

EWMA_LAMBDA = 0.94
EWMA_WARMUP = 20


def ewma_variance(returns: np.ndarray, lam: float = EWMA_LAMBDA, warmup: int = EWMA_WARMUP) -> np.ndarray:
    """EWMA variance known at the close of each day, shape (n,) -> (n,); NaN before day ``warmup - 1``."""
    r2 = np.asarray(returns, dtype=float) ** 2
    out = np.full(r2.shape, np.nan)
    if len(r2) < warmup:
        return out
    seed = r2[:warmup].mean()
    out[warmup - 1] = seed
    if len(r2) > warmup:
        out[warmup:], _ = lfilter([1.0 - lam], [1.0, -lam], r2[warmup:], zi=[lam * seed])
    return out


def ewma_variance_forecast(returns: np.ndarray, lam: float = EWMA_LAMBDA, warmup: int = EWMA_WARMUP
                           ) -> np.ndarray:
    """EWMA variance forecast for each day t, made at the close of t - 1 (shape (n,); NaN until day ``warmup``)."""
    s2 = ewma_variance(returns, lam, warmup)
    out = np.full(s2.shape, np.nan)
    out[1:] = s2[:-1]
    return out


def ewma_sigma_forecast(returns: np.ndarray, lam: float = EWMA_LAMBDA, warmup: int = EWMA_WARMUP) -> np.ndarray:
    """EWMA volatility forecast for each day t, made at t - 1: ``sqrt`` of :func:`ewma_variance_forecast`."""
    return np.sqrt(ewma_variance_forecast(returns, lam, warmup))
