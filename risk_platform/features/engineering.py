"""Point-in-time features per series: EWMA and realized volatility, drawdown, volatility regime, and
rolling cross-asset correlations. Every feature dated t uses data dated t or earlier only.

Units: volatilities are daily, in the series' return units (log return, or basis points for yields).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from risk_platform.ewma import ewma_variance
from risk_platform.features.returns import BP_QUOTES
from risk_platform.regime import RegimeRule, volatility_rank

REALIZED_WINDOWS = (21, 63)
CORR_WINDOW = 63
CORR_MIN_PERIODS = 42


def realized_vol(returns: pd.Series, window: int) -> pd.Series:
    """sqrt of the mean squared return over the last ``window`` returns (zero mean, like EWMA)."""
    return np.sqrt((returns**2).rolling(window, min_periods=window).mean())


def drawdown(values: pd.Series, quote_type: str) -> pd.Series:
    """Drawdown of a long position to date: ``v / max(v) - 1`` for prices; for yields the rise above the
    running low, negative and in basis points (a long bond loses when yields rise)."""
    if quote_type in BP_QUOTES:
        return -100.0 * (values - values.cummin())
    return values / values.cummax() - 1.0


def series_features(returns: pd.DataFrame, panel: pd.DataFrame, instruments: pd.DataFrame,
                    rule: RegimeRule = RegimeRule()) -> pd.DataFrame:
    """One row per (date, symbol) with a return (``returns``: :attr:`Returns.frame`): ``ret, ret_method,
    ewma_vol, rv_21, rv_63, drawdown, vol_rank, regime``."""
    quote_of = instruments.set_index("symbol")["quote_type"]
    values = panel.set_index(["symbol", "date"])["value"]
    parts = []
    for symbol, feed in returns.groupby("symbol", sort=True):
        feed = feed.sort_values("date").reset_index(drop=True)
        r = feed["ret"].fillna(0.0)  # undefined_zero_base days: no relative move is measurable
        ewma_vol = pd.Series(np.sqrt(ewma_variance(r.to_numpy())))
        rank = volatility_rank(ewma_vol.to_numpy(), rule)
        level = values.loc[symbol]
        dd = drawdown(level, quote_of[symbol]).reindex(feed["date"]).to_numpy()
        part = pd.DataFrame(
            {
                "date": feed["date"],
                "symbol": symbol,
                "ret": feed["ret"],
                "ret_method": feed["method"],
                "ewma_vol": ewma_vol,
                **{f"rv_{w}": realized_vol(r, w) for w in REALIZED_WINDOWS},
                "drawdown": dd,
                "vol_rank": rank,
                "regime": rule.label(rank),
            }
        )
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def rolling_correlations(wide_returns: pd.DataFrame, window: int = CORR_WINDOW,
                         min_periods: int = CORR_MIN_PERIODS) -> pd.DataFrame:
    """Pairwise rolling correlations over the last ``window`` dates of the union calendar.

    A pair uses the dates on which both series have a return; fewer than ``min_periods`` such dates gives
    NaN. Returns the long table ``date, symbol_a, symbol_b, corr`` with ``symbol_a < symbol_b``.
    """
    symbols = sorted(wide_returns.columns)
    x = wide_returns[symbols].to_numpy(dtype=float)
    n_dates, n = x.shape
    ia, ib = np.triu_indices(n, k=1)
    out = np.full((n_dates, len(ia)), np.nan, dtype=float)
    valid = ~np.isnan(x)
    for start in range(0, len(ia), 64):
        a, b = ia[start:start + 64], ib[start:start + 64]
        both = valid[:, a] & valid[:, b]
        xa = np.where(both, x[:, a], 0.0)
        xb = np.where(both, x[:, b], 0.0)
        sums = [_rolling_sum(arr, window) for arr in (both.astype(float), xa, xb, xa * xb, xa * xa, xb * xb)]
        cnt, sa, sb, sab, saa, sbb = sums
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = sab - sa * sb / cnt
            var_a = saa - sa * sa / cnt
            var_b = sbb - sb * sb / cnt
            corr = cov / np.sqrt(var_a * var_b)
        corr[(cnt < min_periods) | (var_a <= 0) | (var_b <= 0)] = np.nan
        out[:, start:start + 64] = np.clip(corr, -1.0, 1.0)
    dates = np.repeat(wide_returns.index.to_numpy(), len(ia))
    frame = pd.DataFrame(
        {
            "date": dates,
            "symbol_a": np.tile(np.asarray(symbols)[ia], n_dates),
            "symbol_b": np.tile(np.asarray(symbols)[ib], n_dates),
            "corr": out.ravel().astype(np.float32),
        }
    )
    return frame[frame["corr"].notna()].reset_index(drop=True)


def _rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum over the trailing ``window`` rows (fewer at the start), column-wise."""
    csum = np.cumsum(values, axis=0)
    out = csum.copy()
    out[window:] = csum[window:] - csum[:-window]
    return out
