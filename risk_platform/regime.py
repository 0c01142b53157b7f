"""The one market-regime rule of the platform, used by the features, the risk engine and the models.

A series' volatility regime on day t comes from the percentile rank of its EWMA volatility on day t among all
its EWMA volatilities up to t (expanding window, at least ``min_history`` days): ``low`` below ``low_below``,
``high`` above ``high_above``, ``normal`` in between, ``unknown`` before ``min_history`` days exist.

The *market* regime of a date is the same rule applied to the cross-sectional median of the series' ranks.
A venue that is closed on a date keeps its last rank (its volatility state did not change because it did not
trade), so a holiday on one exchange does not change which series vote: every series that has a rank by
that date counts. Point in time: each rank uses data up to its own day.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

REGIMES = ("low", "normal", "high")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class RegimeRule:
    """Thresholds of the regime rule (see the module docstring)."""

    min_history: int = 252
    low_below: float = 0.25
    high_above: float = 0.85

    def label(self, rank: np.ndarray) -> np.ndarray:
        rank = np.asarray(rank, dtype=float)
        out = np.where(rank < self.low_below, "low", np.where(rank > self.high_above, "high", "normal"))
        return np.where(np.isnan(rank), UNKNOWN, out)


def volatility_rank(vol: np.ndarray, rule: RegimeRule = RegimeRule()) -> np.ndarray:
    """Expanding percentile rank of each day's volatility among the series' volatilities up to that day,
    shape (n,) -> (n,); NaN before ``rule.min_history`` values."""
    return pd.Series(np.asarray(vol, dtype=float)).expanding(min_periods=rule.min_history).rank(pct=True).to_numpy()


def market_regime(ranks: pd.DataFrame, rule: RegimeRule = RegimeRule()) -> pd.Series:
    """Market regime per date from ``ranks`` (dates x series, NaN where a series has no value that day):
    each series' last rank carried over its closed days, the median across series, labelled by ``rule``."""
    carried = ranks.sort_index().ffill()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # dates before any series has a rank: all-NaN rows
        median = np.nanmedian(carried.to_numpy(dtype=float), axis=1) if carried.size else np.array([])
    return pd.Series(rule.label(median), index=carried.index, name="regime")
