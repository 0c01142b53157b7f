"""Liquidity and concentration of a book.

Exposure of a position (USD, absolute value used): its value; the notional for rates positions; the dollar
delta for options.

* days to liquidate a position: ``|exposure| / (participation x avg_daily_volume)``, participation 20% of
  ADV by default; the book's figure is the largest of them (every position sold in parallel, each at 20%);
* ``liquidity_score``: the share of gross exposure (0 to 1) that can be liquidated within one day at that
  participation, ``sum |e_i| min(1, 1 / days_i) / sum |e_i|`` (1 = everything in a day);
* liquidity-adjusted VaR (Bangia et al., constant spread): ``LVaR = VaR + sum 0.5 x bid_ask_bps / 1e4 x |e_i|``
  (the half-spread paid to exit every position);
* concentration: largest position in % of NAV, Herfindahl index of absolute exposure shares
  (``sum s_i**2``, 1/HHI = effective number of positions), shares of gross exposure (in %) by asset class,
  sector and region.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from risk_platform.risk.config import PARTICIPATION


@dataclass(frozen=True)
class LiquidityConcentration:
    days_to_liquidate: dict[str, float]
    days_to_liquidate_portfolio: float
    slowest_position: str
    liquidity_score: float
    spread_cost: float
    lvar_95: float
    lvar_99: float
    largest_position: str
    largest_position_pct: float
    herfindahl_index: float
    asset_class_concentration: dict[str, float]
    sector_concentration: dict[str, float]
    region_concentration: dict[str, float]
    participation: float

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # shallow: no deep copy of 1,000 entries


def _shares(abs_exposure: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    gross = abs_exposure.sum()
    s = pd.Series(abs_exposure).groupby(np.asarray(groups, dtype=str)).sum() / gross * 100.0
    return {str(k): float(v) for k, v in s.sort_values(ascending=False).items()}


def liquidity_concentration(labels: list[str] | tuple[str, ...], exposure: np.ndarray, avg_daily_volume: np.ndarray,
                            bid_ask_bps: np.ndarray, asset_class: np.ndarray, sector: np.ndarray, region: np.ndarray,
                            nav: float, var_95: float, var_99: float,
                            participation: float = PARTICIPATION) -> LiquidityConcentration:
    """Liquidity and concentration figures (see the module docstring). Arrays have shape (m,)."""
    e = np.abs(np.asarray(exposure, dtype=float))
    days = e / (participation * np.asarray(avg_daily_volume, dtype=float))
    gross = e.sum()
    cost = float(np.sum(0.5 * np.asarray(bid_ask_bps, dtype=float) / 1e4 * e))
    with np.errstate(divide="ignore"):
        within_day = np.where(days > 0, np.minimum(1.0, 1.0 / days), 1.0)
    slow, big = int(np.argmax(days)), int(np.argmax(e))
    return LiquidityConcentration(
        days_to_liquidate=dict(zip(labels, days.tolist(), strict=True)),
        days_to_liquidate_portfolio=float(days[slow]),
        slowest_position=str(labels[slow]),
        liquidity_score=float((e * within_day).sum() / gross) if gross > 0 else 1.0,
        spread_cost=cost,
        lvar_95=float(var_95 + cost),
        lvar_99=float(var_99 + cost),
        largest_position=str(labels[big]),
        largest_position_pct=float(100.0 * e[big] / nav),
        herfindahl_index=float(((e / gross) ** 2).sum()) if gross > 0 else 0.0,
        asset_class_concentration=_shares(e, asset_class),
        sector_concentration=_shares(e, sector),
        region_concentration=_shares(e, region),
        participation=participation,
    )
