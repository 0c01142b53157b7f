"""The daily history of a book's risk metrics, vectorised: the anomaly detector's tuning and evaluation data.

The book is valued once (:func:`~risk_platform.risk.valuation.value_book` on the last day of the market) and its
exposures are held fixed; its daily P&L over the whole history is one revaluation of every day's factor moves
(:meth:`~risk_platform.risk.revaluation.BookArrays.total_pnl`, as historical simulation does). Then per day ``t``,
with the data known at the close of ``t`` (day ``t``'s own P&L included, as a report with as-of ``t`` gives):

* ``var_99``, ``es_99``: historical-simulation VaR and ES at 99% over the trailing ``hs_window`` (500) P&L days
  (inverted-CDF VaR as :func:`~risk_platform.risk.methods.rolling_hs_var`, Acerbi-Tasche ES as
  :func:`~risk_platform.risk.methods.historical_method`); NaN for the first ``hs_window - 1`` days;
* ``portfolio_volatility``: the EWMA (lambda 0.94, :mod:`risk_platform.ewma`'s convention) volatility of the book's
  first-order P&L ``e . r_t`` (``e``: the book's USD exposure per factor return, the engine's delta-normal
  exposures), i.e. ``sqrt(e' S_t e)`` with ``S_t`` the EWMA covariance known at the close of ``t``;
* ``diversification_ratio``: the sum over factors of ``|e_j|`` times factor ``j``'s own EWMA volatility, over
  ``portfolio_volatility`` (>= 1: every term has the same EWMA weights, so Minkowski's inequality holds);

and ``pnl`` (USD, gains positive). Losses and risk figures are positive USD, one-day horizon. The days are those on
which any of the book's factors moved (closed days count as no move, as in the engine).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from risk_platform import paths
from risk_platform.ewma import EWMA_LAMBDA, ewma_variance
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.config import HS_WINDOW
from risk_platform.risk.market import MarketState, prepare_market
from risk_platform.risk.methods import rolling_hs_var
from risk_platform.risk.valuation import value_book
from risk_platform.workflows.market_inputs import MarketInputs, gated_market_inputs

METRICS = ("var_99", "es_99", "portfolio_volatility", "diversification_ratio")
ALPHA = 0.99


def bundled_market_inputs(prices: Path | str = paths.BUNDLED_PRICES,
                          instruments: Path | str = paths.BUNDLED_INSTRUMENTS,
                          suite: Path | str | None = None) -> MarketInputs:
    """The gated market inputs (:func:`~risk_platform.workflows.market_inputs.gated_market_inputs`) of a prices and
    an instruments file (the bundled ones by default) under the gate's suite (the default completeness suite)."""
    from risk_platform.data.loading import load_instruments, load_prices
    from risk_platform.data.quality import default_suite_path, load_suite

    table = load_instruments(instruments)
    raw = load_prices(prices, table)
    return gated_market_inputs(raw.frame, table, load_suite(suite if suite is not None else default_suite_path()))


def market_state(inputs: MarketInputs, ewma_lambda: float = EWMA_LAMBDA) -> MarketState:
    """The risk engine's prepared market (:func:`~risk_platform.risk.market.prepare_market`) on the last day of
    ``inputs``, the gate's unavailable feeds and flagged points carried."""
    return prepare_market(inputs.panel, inputs.returns, inputs.instruments, None, inputs.unavailable, ewma_lambda,
                          flag_points=inputs.flag_points)


def book_metric_history(portfolio: Portfolio, market: MarketState, hs_window: int = HS_WINDOW,
                        ewma_lambda: float = EWMA_LAMBDA) -> pd.DataFrame:
    """The daily ``pnl`` and :data:`METRICS` of ``portfolio`` held fixed over ``market``'s history (see the module
    docstring), indexed by ``date`` (oldest first)."""
    valued = value_book(portfolio, market, hs_window)
    cols = valued.factors.cols
    rows = np.flatnonzero(market.observed[:, cols].any(axis=1))
    returns = market.returns[np.ix_(rows, cols)]
    pnl = valued.arrays.total_pnl(returns, market.growth[np.ix_(rows, cols)])
    var_99, es_99 = rolling_hs_var_es(pnl, hs_window, ALPHA)
    exposure = np.asarray(valued.arrays.exposures(sparse=True).sum(axis=0)).ravel()  # USD per factor return / bp
    portfolio_vol = np.sqrt(ewma_variance(returns @ exposure, ewma_lambda))
    standalone = np.column_stack([np.sqrt(ewma_variance(returns[:, j], ewma_lambda)) for j in range(len(cols))])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (standalone @ np.abs(exposure)) / portfolio_vol
    return pd.DataFrame({"pnl": pnl, "var_99": var_99, "es_99": es_99, "portfolio_volatility": portfolio_vol,
                         "diversification_ratio": ratio}, index=pd.DatetimeIndex(market.dates[rows], name="date"))


def rolling_hs_var_es(pnl: np.ndarray, window: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per day ``t``: HS VaR and ES (losses positive) at ``alpha`` over the ``window`` P&L values up to and including
    ``t`` (NaN before day ``window - 1``). VaR is :func:`~risk_platform.risk.methods.rolling_hs_var` (which forecasts
    day ``t`` from the days before it) moved back one day; ES is the Acerbi-Tasche tail mean of each window."""
    pnl = np.asarray(pnl, dtype=float)
    n = len(pnl)
    var = rolling_hs_var(np.append(pnl, 0.0), window, alpha)[1:]  # the appended day only enters a forecast beyond n
    es = np.full(n, np.nan)
    if n >= window:
        losses = sliding_window_view(-pnl, window)
        k = int(np.ceil(window * alpha - 1e-9)) - 1  # the VaR's rank in each sorted window (0-based)
        tail = np.partition(losses, k, axis=1)[:, k:]
        v = var[window - 1:]
        above = np.where(tail > v[:, None], tail, 0.0)
        count = (tail > v[:, None]).sum(axis=1)
        tail_mass = window * (1.0 - alpha)
        es[window - 1:] = (above.sum(axis=1) + v * (tail_mass - count)) / tail_mass
    return var, es
