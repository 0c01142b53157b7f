"""Model inputs built from the feature store's ``daily_features`` table (point in time by construction).

Shared by every model: the wide return matrix, the days on which every series has a return, the market
regime of each day, and the per-series standardisation that generators store with their weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk_platform import regime
from risk_platform.errors import InputError

REGIME_INDEX = {name: i for i, name in enumerate(regime.REGIMES)}  # low 0, normal 1, high 2


def wide_feature(daily: pd.DataFrame, column: str) -> pd.DataFrame:
    """One feature as dates x symbols (union calendar; NaN where a series has no row)."""
    return daily.pivot(index="date", columns="symbol", values=column).sort_index()


def complete_days(returns_wide: pd.DataFrame) -> pd.DataFrame:
    """Rows on which every series has a return (from the first date on which all exist)."""
    complete = returns_wide.dropna(how="any")
    if complete.empty:
        raise InputError("no day on which every series has a return: cannot build joint return vectors")
    return complete


def market_regime(daily: pd.DataFrame, rule: regime.RegimeRule = regime.RegimeRule()) -> pd.Series:
    """Market regime per date of the ``daily_features`` table: :func:`risk_platform.regime.market_regime` on
    the series' ``vol_rank`` (a closed venue keeps its last rank)."""
    return regime.market_regime(wide_feature(daily, "vol_rank"), rule)


@dataclass(frozen=True)
class Standardizer:
    """Per-series mean and standard deviation fitted on the training rows; stored with generator weights."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        std = x.std(axis=0, ddof=1)
        if np.any(~np.isfinite(std)) or np.any(std <= 0):
            raise InputError("a series has zero or undefined variance in the training window")
        return cls(mean=x.mean(axis=0), std=std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


def check_finite(name: str, x: np.ndarray) -> None:
    """Raise a clear error before training if features contain NaN or infinite values."""
    bad = ~np.isfinite(x)
    if bad.any():
        raise InputError(f"{name}: {int(bad.sum())} NaN or infinite values in the training features")
