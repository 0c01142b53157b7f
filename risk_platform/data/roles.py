"""The roles some features need from a universe, each chosen by ONE documented rule from the instruments table
(``asset_class``, ``quote_type``, ``currency``, ``name``, optional ``base_currency``), never by a symbol's name.
Ties go to the row listed first in the instruments file (list a preferred series first to choose it). Where a
role has no candidate, the choice is empty and says why; the feature that needs it degrades with that reason.

* **equity leg** (the 60 of the 60/40 book): the equity index (``equity``/``index_level``) listed first,
  USD-quoted first; without an index, every price-quoted equity, equal-weighted.
* **bond leg** (the 40): the price-quoted rates series (a bond or bond ETF: ``rates``, not ``yield_pct``)
  listed first, USD-quoted first.
* **rate reference** (the yield that price-quoted rates instruments are regressed on for the rates shock):
  the yield (``yield_pct``) whose tenor, read from the symbol or name (``10Y``, ``10-year``, ``3M``,
  ``3-month``), is closest to 10 years; a yield without a readable tenor ranks after those with one.
* **volatility reference** (the option vega shock, the LSTM's market inputs): the ``volatility`` instrument
  listed first.
* **credit reference** (the LSTM's market inputs): the price-quoted rates series (bond, bond ETF) whose name says
  ``high yield`` listed first, else the one whose name says ``corporate``, USD first (a credit spread's risk,
  not a Treasury's); none when no name says either.
* **plotted series**: one per asset class, in the order the classes first appear (volatility indices left
  out: not a price), each class's reference: equity leg, rate reference (else the bond leg), else the first.
* **FX feeds**: currency -> (FX series, sign) from the ``fx_rate`` instruments: ``currency`` is the quote
  currency, the base currency is the ``base_currency`` column or else the symbol's first three letters when
  the symbol is six letters; CCY/USD quotes give sign +1, USD/CCY quotes -1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

REPORTING_CURRENCY = "USD"
SIXTY_FORTY_SHARES = (0.6, 0.4)
REFERENCE_TENOR_YEARS = 10.0
NOT_PLOTTED_CLASSES = ("volatility",)
CREDIT_NAMES = ("high yield", "corporate")  # in order of preference: the riskier credit leads
_TENOR = re.compile(r"(\d+(?:\.\d+)?)\s*-?\s*(y|yr|year|years|m|mo|month|months)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Choice:
    """The symbols chosen for a role (in the order the rule ranks them), or none and ``reason`` why."""

    symbols: tuple[str, ...]
    reason: str = ""

    @property
    def symbol(self) -> str | None:
        """The first chosen symbol (None when nothing was chosen)."""
        return self.symbols[0] if self.symbols else None


def _rows(instruments: pd.DataFrame, symbols: Iterable[str] | None) -> pd.DataFrame:
    """The instruments in file order, one row per symbol, restricted to ``symbols`` when given."""
    rows = instruments.drop_duplicates("symbol")
    if symbols is not None:
        rows = rows[rows["symbol"].isin(set(symbols))]
    return rows.reset_index(drop=True)


def _usd_first(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the reporting currency's rows first (file order kept within each group)."""
    return rows.iloc[np.argsort(~rows["currency"].eq(REPORTING_CURRENCY).to_numpy(), kind="stable")]


def equity_leg(instruments: pd.DataFrame, symbols: Iterable[str] | None = None) -> Choice:
    """The equity index listed first (USD first); without one, every price-quoted equity (equal-weighted)."""
    rows = _rows(instruments, symbols)
    equity = rows[rows["asset_class"] == "equity"]
    index = _usd_first(equity[equity["quote_type"] == "index_level"])
    if len(index):
        return Choice((str(index["symbol"].iat[0]),))
    priced = equity[equity["quote_type"] == "price"]
    if len(priced):
        return Choice(tuple(priced["symbol"].astype(str)))
    return Choice((), "no equity series (asset_class equity)")


def bond_leg(instruments: pd.DataFrame, symbols: Iterable[str] | None = None) -> Choice:
    """The price-quoted rates series (bond, bond ETF) listed first, USD first."""
    rows = _rows(instruments, symbols)
    bonds = _usd_first(rows[(rows["asset_class"] == "rates") & (rows["quote_type"] != "yield_pct")])
    if len(bonds):
        return Choice((str(bonds["symbol"].iat[0]),))
    return Choice((), "no price-quoted rates series (bond or bond ETF; yields are not holdings)")


def sixty_forty(instruments: pd.DataFrame, symbols: Iterable[str] | None = None) -> tuple[dict[str, float], str]:
    """Weights of the 60/40 book (60% the equity leg, 40% the bond leg) or ``({}, reason)`` when a leg is
    absent, e.g. ``"no equity/rates pair: 60/40 book not evaluated (no price-quoted rates series ...)"``."""
    equity, bond = equity_leg(instruments, symbols), bond_leg(instruments, symbols)
    missing = [c.reason for c in (equity, bond) if not c.symbols]
    if missing:
        return {}, f"no equity/rates pair: 60/40 book not evaluated ({'; '.join(missing)})"
    weights = {s: SIXTY_FORTY_SHARES[0] / len(equity.symbols) for s in equity.symbols}
    weights[bond.symbols[0]] = SIXTY_FORTY_SHARES[1]
    return weights, ""


def tenor_years(symbol: str, name: str) -> float:
    """The tenor in years read from a symbol (``UST10Y``, ``DGS3M``) or a name (``10-year``), NaN if none."""
    for text in (str(symbol), str(name)):
        match = _TENOR.search(re.sub(r"(?<=[A-Za-z])(?=\d)", " ", text))
        if match:
            value = float(match.group(1))
            return value / 12.0 if match.group(2).lower().startswith("m") else value
    return float("nan")


def rate_reference(instruments: pd.DataFrame, symbols: Iterable[str] | None = None) -> Choice:
    """The yield whose tenor is closest to 10 years (yields without a readable tenor rank last)."""
    rows = _rows(instruments, symbols)
    yields = rows[rows["quote_type"] == "yield_pct"]
    if not len(yields):
        return Choice((), "no yield series (quote_type yield_pct)")
    names = yields["name"] if "name" in yields.columns else pd.Series("", index=yields.index)
    tenors = np.array([tenor_years(s, n) for s, n in zip(yields["symbol"], names, strict=True)])
    distance = np.where(np.isfinite(tenors), np.abs(tenors - REFERENCE_TENOR_YEARS), np.inf)
    order = np.argsort(distance, kind="stable")
    return Choice(tuple(yields["symbol"].astype(str).to_numpy()[order]))


def vol_reference(instruments: pd.DataFrame, symbols: Iterable[str] | None = None) -> Choice:
    """The volatility index (asset_class ``volatility``) listed first."""
    rows = _rows(instruments, symbols)
    vol = rows[rows["asset_class"] == "volatility"]
    if len(vol):
        return Choice((str(vol["symbol"].iat[0]),))
    return Choice((), "no volatility index (asset_class volatility)")


def credit_reference(instruments: pd.DataFrame, symbols: Iterable[str] | None = None) -> Choice:
    """The price-quoted rates series whose name says ``high yield`` (else ``corporate``) listed first, USD first."""
    rows = _rows(instruments, symbols)
    bonds = _usd_first(rows[(rows["asset_class"] == "rates") & (rows["quote_type"] != "yield_pct")])
    names = bonds["name"].astype(str).str.lower() if "name" in bonds.columns else pd.Series("", index=bonds.index)
    for words in CREDIT_NAMES:
        found = bonds[names.str.contains(words, regex=False)]
        if len(found):
            return Choice((str(found["symbol"].iat[0]),))
    return Choice((), "no credit series (a price-quoted rates series whose name says high yield or corporate)")


def plotted_series(instruments: pd.DataFrame, symbols: Iterable[str]) -> tuple[str, ...]:
    """One series per asset class present in ``symbols`` (volatility left out), classes in file order."""
    rows = _rows(instruments, symbols)
    out = []
    for cls in dict.fromkeys(rows["asset_class"]):
        if cls in NOT_PLOTTED_CLASSES:
            continue
        members = rows[rows["asset_class"] == cls]
        if cls == "equity":
            choice = equity_leg(members)
        elif cls == "rates":
            choice = rate_reference(members) if rate_reference(members).symbols else bond_leg(members)
        else:
            choice = Choice((str(members["symbol"].iat[0]),))
        out.append(choice.symbol or str(members["symbol"].iat[0]))
    return tuple(out)


def fx_feeds(instruments: pd.DataFrame) -> dict[str, tuple[str, int]]:
    """Currency -> (FX symbol, sign): the sign turns the FX log return into the currency's move against USD
    (+1 for CCY/USD quotes, USD per CCY; -1 for USD/CCY quotes, CCY per USD). The first listed feed wins."""
    rows = _rows(instruments, None)
    rows = rows[rows["quote_type"] == "fx_rate"]
    out: dict[str, tuple[str, int]] = {}
    bases = rows["base_currency"].tolist() if "base_currency" in rows.columns else [""] * len(rows)
    for symbol, quote, base in zip(rows["symbol"].astype(str).tolist(), rows["currency"].astype(str).tolist(), bases,
                                   strict=True):
        base = str(base or "").strip().upper()
        if not base and len(symbol) == 6 and symbol.isalpha():
            base = symbol[:3].upper()
        if quote == REPORTING_CURRENCY and base and base != REPORTING_CURRENCY:
            out.setdefault(base, (symbol, 1))
        elif base == REPORTING_CURRENCY and quote != REPORTING_CURRENCY:
            out.setdefault(quote, (symbol, -1))
    return out
