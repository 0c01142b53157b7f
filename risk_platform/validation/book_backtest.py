"""Book backtests: the rolling 1-day VaR/ES of a book held with fixed exposures, by any backtest method.

The book is the crisis validation's *validation book* (:func:`~risk_platform.validation.crisis.book_exposure`):
the positions' first-order USD exposures ``x`` to the factor returns as of the data's last date (USD per unit
log return; ``-dv01`` per bp for yields), held fixed through history, with P&L ``x . r_t`` on the union calendar
(a closed venue did not move) and losses positive. The baselines (``hs``, ``ewma``, ``garch``, ``fhs``) run on
that P&L series exactly as the single-series backtest runs on a return series
(:func:`~risk_platform.validation.var_forecasts.rolling_var`); ``lstm`` is the crisis validation's LSTM method,
normal with ``sigma_t^2 = (x v_t)' C_t (x v_t)`` (:func:`~risk_platform.validation.crisis.lstm_book_forecasts`),
scored after the model's training end only; ``evt_ewma`` and ``evt_garch`` run on the P&L like the baselines, and
``evt_lstm`` fits its GPD tail to the P&L losses standardised by that LSTM book sigma on every day before the
origin (:func:`~risk_platform.validation.var_forecasts.conditional_evt`; the model's training days included),
scored after the training end only. The forecast for day t uses data up to t-1 only.

A position that depends on a feed the gate rejected (its own, its currency's FX feed, VIX for an option), on
one not delivered, or on one without a price on or before the last date, is excluded from the book and named,
as the risk engine does (:mod:`risk_platform.risk.valuation`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from risk_platform.errors import InputError
from risk_platform.features.market_stress import MarketRoles
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.revaluation import lookup
from risk_platform.risk.valuation import dependencies, value_positions
from risk_platform.validation.crisis import (
    CORRELATION_SEED_DAYS,
    book_exposure,
    book_pnl,
    evt_lstm_forecast,
    lstm_book_forecasts,
    lstm_variance_table,
)
from risk_platform.validation.methods import LSTM_METHODS
from risk_platform.validation.var_forecasts import VarForecast, rolling_var

LSTM_ORIGINS_BEFORE = pd.Timedelta(days=120)  # LSTM origins computed before the first scored day


@dataclass(frozen=True)
class ValidationBook:
    """The book's fixed USD exposure per factor, valued on ``asof``, and the positions left out (``symbol``,
    ``position``, ``reason``)."""

    exposure: pd.Series
    excluded: list[dict]
    asof: pd.Timestamp


@dataclass(frozen=True)
class LstmModel:
    """A registered LSTM as the book backtest uses it: the network, the series it was trained on (any other is
    forecast zero-shot), its window length, the end of its training data (days up to it are not scored) and its
    market roles (None: a version without market inputs)."""

    forecaster: Any
    symbols: list[str]
    seq_len: int
    train_end: pd.Timestamp | None
    market: MarketRoles | None = None


def validation_book(portfolio: Portfolio, panel: pd.DataFrame, instruments: pd.DataFrame,
                    unavailable: dict[str, str]) -> ValidationBook:
    """The validation book of ``portfolio`` on the gated ``panel`` as of its last date; positions that depend on
    an ``unavailable`` feed (symbol -> why), on one the panel lacks or on one without a price are excluded and
    named."""
    asof = pd.Timestamp(panel["date"].max())
    book, _ = value_positions(portfolio, panel, instruments, asof)
    needed = set(np.concatenate(dependencies(book)).tolist()) - {""}
    absent = {symbol: f"no prices up to {asof:%Y-%m-%d}" for symbol in needed - set(panel["symbol"])}
    why = {symbol: f"depends on {symbol}: {reason}" for symbol, reason in (absent | unavailable).items()}
    reasons = np.full(len(book), "", dtype=object)
    for feeds in dependencies(book):
        reasons = np.where(reasons == "", lookup(feeds, why, ""), reasons)
    no_value = (reasons == "") & ~np.isfinite(book["value_usd"].to_numpy(dtype=float))
    reasons = np.where(no_value, f"no price on or before {asof:%Y-%m-%d}", reasons)
    keep = reasons == ""
    if not keep.any():
        raise InputError(f"{portfolio.name}: no position can be valued: every position depends on an unavailable"
                         " feed")
    excluded = [{"symbol": str(book["symbol"].iat[j]), "position": str(book["position"].iat[j]),
                 "reason": str(reasons[j])} for j in np.flatnonzero(~keep)]
    kept = replace(portfolio, positions=portfolio.positions[keep].reset_index(drop=True))
    return ValidationBook(book_exposure(kept, panel, instruments, asof), excluded, asof)


def book_forecast(daily: pd.DataFrame, exposure: pd.Series, method: str, alpha: float, window: int,
                  lstm: LstmModel | None = None) -> VarForecast:
    """Rolling VaR/ES forecasts of the book's P&L at ``alpha`` for every day with enough history (``window``
    days before it). ``daily``: ``date, symbol, ret`` rows (the returns, or for ``lstm`` and ``evt_lstm`` the
    feature table the LSTM reads); ``lstm``: the registered model, for those two methods."""
    pnl = book_pnl(daily, exposure)
    if method not in LSTM_METHODS:
        return rolling_var(pnl, "price", method, alpha, window)
    if lstm is None:
        raise InputError(f"the {method} method needs a registered LSTM")
    scored = pnl.iloc[max(window, CORRELATION_SEED_DAYS):]
    if lstm.train_end is not None:
        scored = scored[scored.index > lstm.train_end]  # out of sample only
    if scored.empty:
        raise InputError(f"no book P&L day after the LSTM's training end ({lstm.train_end:%Y-%m-%d}) and the"
                         f" first {max(window, CORRELATION_SEED_DAYS)} days")
    days = scored if method == "lstm" else pnl.iloc[max(window, CORRELATION_SEED_DAYS):]  # EVT: residuals before
    wide_var = lstm_variance_table(lstm.forecaster, daily, list(exposure.index), lstm.seq_len,
                                   since=days.index[0] - LSTM_ORIGINS_BEFORE, market=lstm.market)
    (normal,) = lstm_book_forecasts(wide_var, daily, exposure, days, (alpha,))
    return normal if method == "lstm" else evt_lstm_forecast(pnl, normal, scored.index[0], alpha)



RECENT_DAYS = 250  # the Basel backtest window: what the risk report's VaR-against-P&L chart shows
RECENT_METHOD = "fhs"  # a rolling method of its own: the headline is a composite of methods and model versions


def recent_book_backtest(portfolio: Portfolio, panel: pd.DataFrame, instruments: pd.DataFrame,
                         unavailable: dict[str, str], returns: pd.DataFrame, alpha: float = 0.99,
                         days: int = RECENT_DAYS, method: str = RECENT_METHOD, window: int = 500) -> VarForecast:
    """The validation book's rolling ``method`` VaR/ES at ``alpha`` on its last ``days`` P&L days (exposures as
    of the panel's last date held fixed; the forecast for day t from data up to t-1). Only the recent rows are
    read: ``days`` + 2 ``window`` dates of ``returns`` (the window and the method's warm-up). Raises
    :class:`InputError` when the history is shorter than the window."""
    book = validation_book(portfolio, panel, instruments, unavailable)
    dates = np.sort(returns["date"].unique())
    recent = returns[returns["date"] >= dates[max(0, len(dates) - days - 2 * window)]]
    forecast = book_forecast(recent, book.exposure, method, alpha, window)
    return forecast.take(np.arange(max(0, len(forecast.dates) - days), len(forecast.dates)))
