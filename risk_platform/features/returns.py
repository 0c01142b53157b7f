"""Daily returns by quote type.

* ``price``, ``index_level``, ``fx_rate``: log return ``ln(v_t / v_{t-1})`` (method ``log``);
* ``yield_pct``: change in basis points ``100 * (y_t - y_{t-1})`` (method ``bp``).

Fallback for a non-positive price (WTI closed at -36.98 USD on 2020-04-20): the log return is undefined,
so the return is the arithmetic price change over the absolute previous price,
``(v_t - v_{t-1}) / |v_{t-1}|`` (method ``arith_fallback``), and every such day is listed in
:attr:`Returns.fallbacks`. If the previous price is exactly zero no relative return exists: the return is
NaN with method ``undefined_zero_base``, also listed. A return is computed between consecutive observed
sessions of the feed (a missing session makes the next return span two sessions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LOG_QUOTES = ("price", "index_level", "fx_rate")
BP_QUOTES = ("yield_pct",)


@dataclass(frozen=True)
class Returns:
    """Long table ``date, symbol, ret, method, price_change`` (``value_t - value_{t-1}`` in quote units)
    and the days that used a fallback."""

    frame: pd.DataFrame
    fallbacks: pd.DataFrame

    def wide(self) -> pd.DataFrame:
        return wide_returns(self.frame)


def wide_returns(frame: pd.DataFrame) -> pd.DataFrame:
    """Long returns -> dates x symbols; NaN where a symbol has no return that day (closed or missing)."""
    return frame.pivot(index="date", columns="symbol", values="ret").sort_index()


def compute_returns(panel: pd.DataFrame, instruments: pd.DataFrame) -> Returns:
    """Returns of every feed in a long ``date, symbol, value`` panel (see module docstring for methods)."""
    quote_of = instruments.set_index("symbol")["quote_type"]
    ordered = panel.sort_values(["symbol", "date"], kind="stable")
    prev = ordered.groupby("symbol", sort=False)["value"].shift(1)
    value = ordered["value"].to_numpy(dtype=float)
    prev_v = prev.to_numpy(dtype=float)
    quote = ordered["symbol"].map(quote_of).to_numpy()
    is_bp = np.isin(quote, BP_QUOTES)
    positive = (value > 0) & (prev_v > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ret = np.log(value / prev_v)
        arith = (value - prev_v) / np.abs(prev_v)
    ret = np.where(is_bp, 100.0 * (value - prev_v), np.where(positive, log_ret, arith))
    method = np.where(
        is_bp, "bp", np.where(positive, "log", np.where(prev_v == 0.0, "undefined_zero_base", "arith_fallback"))
    )
    ret = np.where(method == "undefined_zero_base", np.nan, ret)
    frame = pd.DataFrame(
        {"date": ordered["date"].to_numpy(), "symbol": ordered["symbol"].to_numpy(), "ret": ret, "method": method,
         "prev_value": prev_v, "value": value}
    )
    frame = frame[~np.isnan(prev_v)].reset_index(drop=True)
    frame["price_change"] = frame["value"] - frame["prev_value"]
    fallback_mask = frame["method"].isin(["arith_fallback", "undefined_zero_base"])
    fallbacks = frame.loc[fallback_mask, ["date", "symbol", "prev_value", "value", "ret", "method"]]
    return Returns(frame=frame[["date", "symbol", "ret", "method", "price_change"]],
                   fallbacks=fallbacks.reset_index(drop=True))
