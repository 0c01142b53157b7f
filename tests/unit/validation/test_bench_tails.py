"""``bench.tails``'s scoring: series pass only on the same days for every method, the tick loss ratio is unit-free
and pooled against fhs (synthetic forecasts; the benchmark itself runs for minutes)."""

import numpy as np
import pandas as pd

from bench.tails import score
from risk_platform.validation.var_forecasts import VarForecast


def _forecast(name: str, dates: pd.DatetimeIndex, losses: np.ndarray, var: np.ndarray) -> VarForecast:
    return VarForecast(name, 0.99, dates, losses, var, var * 1.2)


def test_score_counts_passes_on_common_days_and_pools_unit_free_tick_loss():
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2004-06-01", periods=2000)
    out = {}
    for symbol, unit in (("A", 1.0), ("B", 100.0)):  # B in bp: the ratio must not be B's alone
        losses = rng.standard_normal(2000) * unit
        right = np.full(2000, 2.326 * unit)
        out[symbol] = {"fhs": _forecast("fhs", dates, losses, right),
                       "low": _forecast("low", dates, losses, right * 0.6),  # far too many exceptions
                       "late": _forecast("late", dates[300:], losses[300:], right[300:])}  # fewer days
    rows = score(out, "2005-01-01", "2010-12-31")
    assert rows["fhs"]["series"] == 2 and rows["fhs"]["tick_ratio_to_fhs"] == 1.0
    assert rows["low"]["pass"] == 0 and rows["low"]["red"] == 2 and rows["low"]["tick_ratio_to_fhs"] > 1.1
    assert rows["late"]["tick_ratio_to_fhs"] == 1.0  # scored on the days every method has: fhs's days equal
    assert rows["fhs"]["exceptions"] == rows["late"]["exceptions"]
