"""Point-in-time features per series: EWMA and realized volatility, drawdown, volatility regime (the rolling
cross-asset correlations, over ``CORR_WINDOW``, are in ``correlation``). Every feature dated t uses data dated t or
earlier only.

Units: volatilities are daily, in the series' return units (log return, or basis points for yields).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from risk_platform.ewma import ewma_variance
from risk_platform.features.returns import BP_QUOTES
from risk_platform.regime import RegimeRule, volatility_rank

REALIZED_WINDOWS = (21, 63)
CORR_WINDOW = 63  # dates of the rolling correlations (features.correlation) and the GNN's first window
CORR_MIN_PERIODS = 42  # common returns a pair needs in the window for a correlation


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
