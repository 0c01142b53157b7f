"""Valuation of a book on a prepared market: FX factors, position values, the feeds each position depends on,
exclusion, staleness and short-history flags, and the factor rows the methods revalue it on.

A position is excluded and flagged when a feed it needs (its own, the FX feed of its currency, the volatility
reference for an option: :mod:`risk_platform.data.roles`, VIX in the bundled data) was rejected, is absent,
or has no value on or before the as-of date. It is flagged but kept when its last value is more than
``STALE_AFTER_SESSIONS`` venue sessions old, or when its history covers less than
``MIN_HISTORY_COVERAGE`` of the venue's sessions in the historical window (the missing days count as no move).
:func:`value_book` returns all of it as one :class:`ValuedBook`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk_platform.data.roles import fx_feeds, vol_reference
from risk_platform.errors import ComputationError, InputError
from risk_platform.portfolio.positions import Portfolio, is_option, position_labels
from risk_platform.risk.config import MIN_HISTORY_COVERAGE
from risk_platform.risk.market import MarketState, last_values, session_count
from risk_platform.risk.revaluation import BookArrays, lookup

REGIME_CALIBRATION_EXTRA_DAYS = 60  # the regime history starts when every factor trades if that leaves this many


def value_positions(portfolio: Portfolio, panel: pd.DataFrame | None, instruments: pd.DataFrame,
                    asof: pd.Timestamp, last: MarketState | pd.DataFrame | None = None
                    ) -> tuple[pd.DataFrame, list[str]]:
    """Positions with ``position, kind, value_usd, exposure_usd, price, price_date, fx_symbol, fx_sign,
    vol_symbol`` as of ``asof`` (``exposure_usd``: the value, or the dollar delta of an option; ``fx_symbol``:
    the currency's feed of :func:`~risk_platform.data.roles.fx_feeds`; ``vol_symbol``: an option's vega shock
    feed, :func:`~risk_platform.data.roles.vol_reference`, '' when none)
    (vectorised). ``last``: precomputed last values (a :class:`MarketState` or the ``date, value`` table
    by symbol) instead of ``panel``.

    Returns the table and notes (currencies whose FX risk is not modelled, options without a volatility
    reference whose vega is not shocked). Symbols without a price
    get NaN values; the caller flags them.
    """
    inst = instruments.set_index("symbol")
    fx = fx_feeds(instruments)
    vol = vol_reference(instruments)
    if isinstance(last, MarketState):
        last_value, last_date = last.last_value, last.last_date
    else:
        table = last if last is not None else last_values(panel, asof)
        last_value, last_date = table["value"], table["date"]
    book = portfolio.positions.copy()
    sym = book["symbol"].to_numpy(dtype=str)
    quote = lookup(sym, inst["quote_type"].to_dict(), "").astype(str)
    ccy = lookup(sym, inst["currency"].to_dict(), "").astype(str)
    option = is_option(book)
    kind = np.select([option, quote == "yield_pct", (quote == "fx_rate") & (ccy == "USD"), quote == "fx_rate"],
                     ["option", "rates_dv01", "fx_usd_quote", "fx_usd_base"], "linear")
    needs_fx = np.isin(kind, ("linear", "option")) & (ccy != "USD")
    fx_symbol = np.where(needs_fx, lookup(ccy, {c: f for c, (f, _) in fx.items()}, "").astype(str), "")
    fx_sign = np.where(needs_fx, lookup(ccy, {c: g for c, (_, g) in fx.items()}, 0).astype(int), 0)
    labels = position_labels(book)
    notes = [f"{labels[j]}: no USD/{ccy[j]} feed, FX risk of this position not modelled"
             for j in np.flatnonzero(needs_fx & (fx_symbol == ""))]
    if option.any() and vol.symbol is None:
        notes.append(f"{int(option.sum())} option position(s): {vol.reason} in the instruments, so their vega is"
                     " not shocked (delta, gamma and theta only)")
    where = last_value.index.get_indexer(sym)
    fx_where = last_value.index.get_indexer(fx_symbol)
    values = np.append(last_value.to_numpy(dtype=float), np.nan)  # index -1 -> NaN
    price, rate = values[where], values[fx_where]
    with np.errstate(divide="ignore", invalid="ignore"):
        fx_rate = np.where(fx_symbol == "", 1.0, np.where(fx_sign > 0, rate, 1.0 / rate))
    notional = book["notional"].to_numpy(dtype=float)
    value = np.where(np.isnan(notional), book["quantity"].to_numpy(dtype=float) * price * fx_rate, notional)
    dates = np.append(pd.DatetimeIndex(last_date.reindex(last_value.index)).to_numpy(), np.datetime64("NaT"))
    delta = book["delta"].to_numpy(dtype=float) if "delta" in book.columns else np.full(len(book), np.nan)
    new = pd.DataFrame({"position": labels, "kind": kind, "fx_symbol": fx_symbol, "fx_sign": fx_sign,
                        "vol_symbol": np.where(option, vol.symbol or "", ""), "price": price,
                        "price_date": dates[where], "value_usd": value,
                        "exposure_usd": np.where(option, delta, value)}, index=book.index)
    book = pd.concat([book.drop(columns=[c for c in new.columns if c in book.columns]), new], axis=1)
    return book, notes


def dependencies(book: pd.DataFrame) -> list[np.ndarray]:
    """The feeds each position needs: its own, its currency's FX feed, the volatility reference for options
    ('' when none)."""
    return [book[c].to_numpy(dtype=str) for c in ("symbol", "fx_symbol", "vol_symbol")]


@dataclass(frozen=True)
class FeedFlags:
    """The positions that can be valued (with their ``stale`` column), the flags, and the gross exposure of
    every position (excluded ones at their notional, options at their delta) for the coverage figure."""

    kept: pd.DataFrame
    flagged: list[dict]
    gross_all: float


def flag_feeds(book: pd.DataFrame, market: MarketState) -> FeedFlags:
    """Exclude positions whose feeds (own, FX, volatility reference for options) are unusable; flag stale ones
    (vectorised)."""
    unusable = {s: f"depends on {s}: {r}" for s, r in market.unusable.items()}
    problem = np.full(len(book), "", dtype=object)
    stale = np.full(len(book), "", dtype=object)
    for dep in dependencies(book):
        reason = lookup(dep, unusable, "")
        problem = np.where(problem == "", reason, problem)
        st = lookup(dep, market.stale, "")
        hit = np.flatnonzero(st != "")  # joined on the stale positions only (Python strings)
        stale[hit] = np.where(stale[hit] == "", st[hit], stale[hit] + "; " + st[hit])
    keep = problem == ""
    labels = book["position"].to_numpy(dtype=str)
    symbols = book["symbol"].to_numpy(dtype=str)
    notional = book["notional"].to_numpy(dtype=float)
    notional = np.where(book["kind"].to_numpy(dtype=str) == "option", book["delta"].to_numpy(dtype=float), notional)
    value = book["exposure_usd"].to_numpy(dtype=float)
    flagged = [{"symbol": symbols[j], "position": labels[j], "reason": problem[j], "excluded": True,
                "notional": _finite(notional[j])} for j in np.flatnonzero(~keep)]
    is_stale = keep & (stale != "")
    flagged += [{"symbol": symbols[j], "position": labels[j], "reason": "stale price: " + stale[j],
                 "excluded": False, "notional": _finite(value[j])} for j in np.flatnonzero(is_stale)]
    book = book.assign(stale=is_stale)
    gross_all = float(np.nansum(np.abs(np.where(keep, value, notional))))
    return FeedFlags((book if keep.all() else book[keep]).reset_index(drop=True), flagged, gross_all)


@dataclass(frozen=True)
class FactorRows:
    """The book's factors (``names``, their columns ``cols`` in the market arrays) and the market rows of the
    historical window (``window``) and of the regime calibration / stress bootstrap (``history``: since every
    factor started, when that leaves enough days)."""

    names: list[str]
    cols: np.ndarray
    window: np.ndarray
    history: np.ndarray

    def take(self, array: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``array`` (n dates, k market feeds) on ``rows`` and the book's factor columns."""
        return array[np.ix_(rows, self.cols)]


def factor_rows(market: MarketState, names: list[str], window: int) -> FactorRows:
    """The rows on which any of ``names`` moved: the last ``window`` of them, and the calibration history."""
    cols = market.columns(names)
    observed = market.observed[:, cols]
    rows = np.flatnonzero(observed.any(axis=1))
    if len(rows) < window:
        raise ComputationError(f"only {len(rows)} days of returns up to {market.asof:%Y-%m-%d}; historical"
                               f" simulation needs {window}")
    first = np.argmax(observed, axis=0).max()
    history = rows[rows >= first]
    if len(history) < window + REGIME_CALIBRATION_EXTRA_DAYS:
        history = rows
    return FactorRows(names, cols, rows[-window:], history)


def short_histories(book: pd.DataFrame, market: MarketState, factors: FactorRows) -> list[dict]:
    """Flags for positions a feed of which has returns on less than ``MIN_HISTORY_COVERAGE`` of its venue's
    sessions in the historical window (the worst of its dependencies is named)."""
    start, end = market.dates[factors.window[0]], market.dates[factors.window[-1]]
    observed = factors.take(market.observed, factors.window).sum(axis=0)
    calendars = market.instruments["calendar"].reindex(factors.names).tolist()
    coverage = {f: (observed[i] / n if (n := session_count(c, start, end)) else 0.0)
                for i, (f, c) in enumerate(zip(factors.names, calendars, strict=True))}
    worst_cov = np.full(len(book), np.inf)
    worst_dep = np.full(len(book), "", dtype=object)
    for dep in dependencies(book):
        c = lookup(dep, coverage, np.inf).astype(float)
        better = c < worst_cov
        worst_cov, worst_dep = np.where(better, c, worst_cov), np.where(better, dep, worst_dep)
    symbols, labels = book["symbol"].to_numpy(dtype=str), book["position"].to_numpy(dtype=str)
    value = book["value_usd"].to_numpy(dtype=float)
    return [{"symbol": symbols[j], "position": labels[j], "excluded": False, "notional": _finite(value[j]),
             "reason": f"short history: {worst_dep[j]} has returns on {worst_cov[j]:.0%} of its venue's"
             f" sessions in the {len(factors.window)}-day window (missing days count as no move)"}
            for j in np.flatnonzero(worst_cov < MIN_HISTORY_COVERAGE)]


@dataclass(frozen=True)
class ValuedBook:
    """A book valued on a market: the positions that can be valued (``table``, one row each, with their
    ``stale`` flag) as :class:`BookArrays`, the factors and market rows the methods use, the flagged
    positions (excluded, stale, short history), notes, NAV and the gross exposure of every position."""

    table: pd.DataFrame
    arrays: BookArrays
    factors: FactorRows
    is_bp: np.ndarray  # (k,) the factors quoted in bp (yields)
    nav: float  # the portfolio's NAV, or the gross exposure when the file gives none
    flagged: tuple[dict, ...]
    notes: tuple[str, ...]
    gross_all: float

    @property
    def names(self) -> list[str]:
        return self.factors.names

    @property
    def asset_class(self) -> np.ndarray:
        return self.table["asset_class"].to_numpy(dtype=str)

    @property
    def gross(self) -> float:
        """Gross exposure of the valued positions (absolute values or dollar deltas)."""
        return float(np.abs(self.arrays.exposure_usd).sum())

    @property
    def coverage_pct_gross(self) -> float:
        return float(100 * self.gross / self.gross_all) if self.gross_all else 0.0

    @property
    def stale_symbols(self) -> list[str]:
        return sorted({f["symbol"] for f in self.flagged if not f["excluded"] and "stale" in f["reason"]})


def book_factors(book: pd.DataFrame) -> list[str]:
    """The factors a valued book moves with: its instruments, their FX feeds, the options' volatility reference."""
    feeds = {str(f) for c in ("symbol", "fx_symbol", "vol_symbol") for f in book[c].unique().tolist()}
    return sorted(feeds - {""})  # hashing each column's distinct values: 15x faster than sorting every row's strings


def value_book(portfolio: Portfolio, market: MarketState, hs_window: int) -> ValuedBook:
    """Value ``portfolio`` on ``market`` and flag what cannot be valued or is stale or short (see the module
    docstring); :class:`InputError` when no position can be valued."""
    book, notes = value_positions(portfolio, None, market.instruments.reset_index(), market.asof, last=market)
    flags = flag_feeds(book, market)
    book = flags.kept
    if book.empty:
        raise InputError("no position can be valued: every position depends on an unavailable feed")
    names = book_factors(book)
    factors = factor_rows(market, names, hs_window)
    flagged = flags.flagged + short_histories(book, market, factors)
    vol = next((v for v in book["vol_symbol"] if v), "")
    arrays = BookArrays.from_book(book, names, vix_level=float(market.last_value.get(vol, np.nan)), vol_symbol=vol)
    nav = portfolio.nav if np.isfinite(portfolio.nav) else float(np.abs(arrays.exposure_usd).sum())
    return ValuedBook(table=book, arrays=arrays, factors=factors, is_bp=market.is_bp[factors.cols], nav=nav,
                      flagged=tuple(flagged), notes=tuple(notes), gross_all=flags.gross_all)


def _finite(x: object) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None
