"""Market-stress inputs of the LSTM: a few figures per date, the same for every series, from the universe's
roles (:mod:`risk_platform.data.roles`, never a symbol's name). Each figure on day t reads rows dated t or
before only (point in time), with fixed trailing windows, so a longer history before them does not change it:

* ``vol_level``: log of the volatility reference's level over its mean of the last :data:`LEVEL_DAYS` sessions
  (the level rebuilt from its log returns: the ratio does not depend on where the history starts);
* ``vol_change``: its log change of the day;
* ``rate_move``: ``|r / rv_63|`` of the rate reference (its bp change over its own 63-day scale);
* ``credit_move``: ``r / rv_63`` of the credit reference (signed: a sell-off is negative);
* ``stress_share``: the share of the series of the table passed whose ``|r / rv_63| >`` :data:`STRESS_Z`.

A figure whose role is absent from the universe is zero, with the reason in :attr:`MarketRoles.notes`; before
a role has the history a figure needs, and on a day its venue is closed (changes), the figure is zero too (the
level keeps its last value). A role chosen at training but absent from the table a forecast gets is an
:class:`InputError` (never a silent zero).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk_platform.data.roles import credit_reference, rate_reference, vol_reference
from risk_platform.errors import InputError

MARKET_FEATURES = ("vol_level", "vol_change", "rate_move", "credit_move", "stress_share")
LEVEL_DAYS = 252  # the volatility reference's trailing mean (one year of sessions)
STRESS_Z = 2.0  # a series is under stress on a day when its return exceeds twice its 63-day scale
MOVE_CAP = 10.0  # |r / rv_63| beyond this is clipped (a first day after a flat spell)


@dataclass(frozen=True)
class MarketRoles:
    """The series behind the market-stress inputs (None: the role is absent, its figures are zero) and why a
    role is absent (``notes``)."""

    volatility: str | None
    rate: str | None
    credit: str | None
    notes: tuple[str, ...] = ()

    def metadata(self) -> dict[str, object]:
        """The registered version's ``market_inputs`` metadata (read back by :meth:`from_metadata`)."""
        return {"volatility": self.volatility, "rate": self.rate, "credit": self.credit,
                "features": list(MARKET_FEATURES), "notes": list(self.notes)}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, object] | None) -> MarketRoles | None:
        """The roles of a registered version's ``market_inputs`` metadata; None for a version without them."""
        if not metadata:
            return None
        return cls(metadata.get("volatility"), metadata.get("rate"), metadata.get("credit"),
                   tuple(metadata.get("notes") or ()))


def market_roles(instruments: pd.DataFrame, symbols: Iterable[str]) -> MarketRoles:
    """The volatility, rate and credit references among ``symbols`` (the roles' rules), with a note per absent
    role naming the figures that stay zero and why."""
    symbols = list(symbols)
    choices = {"volatility": vol_reference(instruments, symbols), "rate": rate_reference(instruments, symbols),
               "credit": credit_reference(instruments, symbols)}
    figures = {"volatility": "vol_level, vol_change", "rate": "rate_move", "credit": "credit_move"}
    notes = tuple(f"{figures[role]}: zero ({choice.reason})" for role, choice in choices.items() if not choice.symbols)
    return MarketRoles(choices["volatility"].symbol, choices["rate"].symbol, choices["credit"].symbol, notes)


def market_features(daily: pd.DataFrame, roles: MarketRoles) -> pd.DataFrame:
    """Every date of ``daily`` (``date, symbol, ret, rv_63`` rows) x :data:`MARKET_FEATURES` (float32, finite)."""
    dates = pd.DatetimeIndex(sorted(daily["date"].unique()))
    out = pd.DataFrame(0.0, index=dates, columns=list(MARKET_FEATURES))
    if roles.volatility is not None:
        ret = _role_rows(daily, roles.volatility, "volatility reference")["ret"].fillna(0.0)
        log_level = ret.cumsum()  # log(level / first level): a volatility index mean-reverts, exp() stays finite
        mean = np.exp(log_level).rolling(LEVEL_DAYS, min_periods=LEVEL_DAYS).mean()
        out["vol_level"] = (log_level - np.log(mean)).reindex(dates).ffill()
        out["vol_change"] = ret.reindex(dates)
    if roles.rate is not None:
        out["rate_move"] = _scaled(_role_rows(daily, roles.rate, "rate reference")).abs().reindex(dates)
    if roles.credit is not None:
        out["credit_move"] = _scaled(_role_rows(daily, roles.credit, "credit reference")).reindex(dates)
    z = _scaled(daily.set_index("date"))
    out["stress_share"] = (z.abs() > STRESS_Z).where(z.notna()).groupby(level=0).mean().reindex(dates)
    return out.fillna(0.0).astype(np.float32)


def _role_rows(daily: pd.DataFrame, symbol: str, role: str) -> pd.DataFrame:
    """``symbol``'s rows indexed by date; :class:`InputError` when the table lacks it."""
    rows = daily[daily["symbol"] == symbol]
    if rows.empty:
        raise InputError(f"{symbol} (the LSTM's {role}, a market input) has no rows in the feature table: pass the"
                         " whole panel")
    return rows.set_index("date").sort_index()


def _scaled(rows: pd.DataFrame) -> pd.Series:
    """``ret / rv_63`` clipped to +-:data:`MOVE_CAP` (NaN where the scale is unknown or zero)."""
    scale = rows["rv_63"].where(rows["rv_63"] > 0)
    return (rows["ret"] / scale).clip(-MOVE_CAP, MOVE_CAP)
