"""Portfolio risk on one as-of date: position valuation, scenario P&L by full revaluation, every VaR / ES
method side by side (historical, parametric with EWMA or model volatilities and correlations, Monte Carlo
from model or vine-copula scenarios, filtered HS, regime-adjusted blend), Euler contributions, liquidity and
concentration, stress tests. Losses are positive, USD, 1-day horizon.

Entry point: :func:`compute_portfolio_risk` (= :func:`~risk_platform.risk.market.prepare_market` +
:func:`~risk_platform.risk.engine.assess_portfolio`). The formulas of each part live in ``methods``,
``revaluation``, ``options``, ``copula``, ``stress`` and ``liquidity``.

Revaluation of one day's market move (``g = exp(log return)``; a venue that was closed that day did not
move, ``g = 1``). On a day whose log return is undefined (a non-positive price, e.g. WTI on 2020-04-20)
the day's absolute price change is applied to the as-of price: ``g = 1 + change / price_asof``.

* prices, index levels (``linear``): ``V (g_local * g_fx - 1)``, ``g_fx`` the move of the instrument's
  currency against USD (from the FX feed that quotes it; a currency without a feed, e.g. the pegged HKD,
  is not revalued and the report says so);
* FX rates quoted in USD, e.g. EURUSD (``fx_usd_quote``): ``V (g - 1)``, V the USD value of the foreign amount;
* USD-based FX rates, e.g. USDJPY (``fx_usd_base``): ``V (1 - 1 / g)``, V the USD amount held long;
* yields (``rates_dv01``): ``-dv01 * change in bp``;
* options (``option``): delta-gamma-vega-theta on the underlying's USD move and the VIX change in points
  (:mod:`risk_platform.risk.options`).

The parametric method uses the first-order exposures of the same formulas to the factor returns.

A position is excluded and flagged when a feed it needs (its own, or the FX feed of its currency) was
rejected, is absent, or has no value on or before the as-of date. It is flagged but kept when its last
value is more than ``STALE_AFTER_SESSIONS`` venue sessions old, or when its history covers less than
``MIN_HISTORY_COVERAGE`` of the venue's sessions in the historical window (the missing days count as no move).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk_platform.features.engineering import EWMA_LAMBDA
from risk_platform.portfolio.positions import Portfolio, is_option, position_labels
from risk_platform.risk.copula import DEFAULT_FAMILIES, DEFAULT_TRUNCATION, VineCopulaModel
from risk_platform.risk.market import (  # noqa: F401  (re-exported: callers import them from here)
    STALE_AFTER_SESSIONS,
    MarketState,
    last_values,
    prepare_market,
    sessions_since,
)
from risk_platform.risk.report import ModelInputs, PortfolioRisk, ScenarioSet  # noqa: F401
from risk_platform.risk.revaluation import BookArrays, lookup

ALPHAS = (0.95, 0.99)
HS_WINDOW = 500
MIN_HISTORY_COVERAGE = 0.9
MC_SCENARIOS = 50_000


@dataclass(frozen=True)
class RiskConfig:
    """Methodology settings; every figure in the report names the setting that produced it.

    ``mc_scenarios``: vine-copula draws and non-model stress bootstrap draws; ``fit_copula``: fit the vine
    copula when no fitted model or scenarios are passed (seconds: pass a fitted model intraday);
    ``copula_window``: recent days it is fitted on; ``stress_share``: tail share of generated stress;
    ``participation``: share of ADV traded per day when liquidating.
    """

    hs_window: int = HS_WINDOW
    ewma_lambda: float = EWMA_LAMBDA
    alphas: tuple[float, ...] = ALPHAS
    mc_scenarios: int = MC_SCENARIOS
    fit_copula: bool = True
    copula_window: int = 500
    copula_families: tuple[str, ...] = DEFAULT_FAMILIES
    copula_trunc_lvl: int | None = DEFAULT_TRUNCATION
    stress_share: float = 0.01
    participation: float = 0.2
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        if not {0.95, 0.99} <= set(self.alphas):
            raise ValueError("alphas must include 0.95 and 0.99 (the report's var_95/var_99/cvar_95/es_99)")


def fx_factors(instruments: pd.DataFrame) -> dict[str, tuple[str, int]]:
    """Currency -> (FX symbol, sign) where the sign turns the FX log return into the currency's move
    against USD: +1 for ``CCYUSD`` (USD per CCY), -1 for ``USDCCY`` (CCY per USD)."""
    fx = instruments[instruments["quote_type"] == "fx_rate"]
    symbol, currency = fx["symbol"].to_numpy(dtype=str), fx["currency"].to_numpy(dtype=str)
    out: dict[str, tuple[str, int]] = {}
    for s, c in zip(symbol.tolist(), currency.tolist(), strict=True):
        if c == "USD" and len(s) == 6 and s.endswith("USD"):
            out[s[:3]] = (s, 1)
        elif c != "USD" and s.startswith("USD"):
            out[c] = (s, -1)
    return out


def value_positions(portfolio: Portfolio, panel: pd.DataFrame | None, instruments: pd.DataFrame,
                    asof: pd.Timestamp, last: MarketState | pd.DataFrame | None = None
                    ) -> tuple[pd.DataFrame, list[str]]:
    """Positions with ``position, kind, value_usd, exposure_usd, price, price_date, fx_symbol, fx_sign`` as of
    ``asof`` (``exposure_usd``: the value, or the dollar delta of an option)
    (vectorised). ``last``: precomputed last values (a :class:`MarketState` or the ``date, value`` table
    by symbol) instead of ``panel``.

    Returns the table and notes (e.g. currencies whose FX risk is not modelled). Symbols without a price
    get NaN values; the caller flags them.
    """
    inst = instruments.set_index("symbol")
    fx = fx_factors(instruments)
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
    new = pd.DataFrame({"position": labels, "kind": kind, "fx_symbol": fx_symbol, "fx_sign": fx_sign, "price": price,
                        "price_date": dates[where], "value_usd": value,
                        "exposure_usd": np.where(option, delta, value)}, index=book.index)
    book = pd.concat([book.drop(columns=[c for c in new.columns if c in book.columns]), new], axis=1)
    return book, notes


@dataclass(frozen=True)
class FactorHistory:
    """The last ``window`` dates (<= asof) on which any factor moved. Arrays have shape (n, k).

    ``returns``: log returns (bp for yields), 0 where the venue was closed; ``growth``: the price ratio to
    apply to today's value (``exp(r)``; on fallback days ``1 + change / price_asof``; 1 when closed);
    ``observed``: how many returns each factor has in the window.
    """

    dates: pd.DatetimeIndex
    factors: list[str]
    returns: np.ndarray
    growth: np.ndarray
    observed: np.ndarray


def factor_history(returns: pd.DataFrame, factors: list[str], asof: pd.Timestamp, window: int,
                   asof_levels: pd.Series) -> FactorHistory:
    """Scenario history of ``factors`` for historical simulation (see :class:`FactorHistory`)."""
    sub = returns[returns["symbol"].isin(factors) & (returns["date"] <= asof)]

    def wide(column: str) -> pd.DataFrame:
        table = sub.pivot(index="date", columns="symbol", values=column).reindex(columns=factors).sort_index()
        return table.iloc[-window:]

    ret, method, change = wide("ret"), wide("method"), wide("price_change")
    m = method.to_numpy(dtype=object)
    r = np.nan_to_num(ret.to_numpy(dtype=float))
    level = asof_levels.reindex(factors).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        fallback_growth = np.where(level > 0, 1.0 + np.nan_to_num(change.to_numpy(dtype=float)) / level, 1.0 + r)
    growth = np.where(m == "log", np.exp(r), np.where(m == "arith_fallback", fallback_growth, 1.0))
    return FactorHistory(pd.DatetimeIndex(ret.index), factors, r, growth, ret.notna().sum().to_numpy())


def revalue(book: pd.DataFrame, factors: list[str], returns: np.ndarray, growth: np.ndarray,
            vix_level: float = np.nan) -> np.ndarray:
    """P&L per scenario and position, shape (n, m), by the formulas in the module docstring (vectorised)."""
    return BookArrays.from_book(book, factors, vix_level).position_pnl(returns, growth)


def exposures(book: pd.DataFrame, factors: list[str], vix_level: float = np.nan) -> np.ndarray:
    """First-order USD exposure of each position to each factor return, shape (m, k)."""
    return BookArrays.from_book(book, factors, vix_level).exposures()


def compute_portfolio_risk(portfolio: Portfolio, panel: pd.DataFrame, returns: pd.DataFrame,
                           instruments: pd.DataFrame, asof: pd.Timestamp | None = None,
                           unavailable: dict[str, str] | None = None,
                           config: RiskConfig = RiskConfig(), *,
                           model_inputs: ModelInputs | Sequence[ModelInputs] | None = None,
                           copula: VineCopulaModel | ScenarioSet | None = None,
                           stress: bool = True, market: MarketState | None = None) -> PortfolioRisk:
    """Risk of ``portfolio`` on ``asof`` (default: the last date of the panel).

    ``unavailable`` maps symbols that must not be used (e.g. feeds rejected by the gate) to the reason;
    positions depending on them, or on a symbol without prices, are excluded and flagged.
    ``model_inputs``: one :class:`ModelInputs` per aliased set of model versions (LSTM vols, GNN
    correlations, GAN/VAE scenarios, regime probabilities); each adds its methods to the report.
    ``copula``: a fitted :class:`VineCopulaModel` or pre-drawn :class:`ScenarioSet` (else fitted here when
    ``config.fit_copula``). ``stress``: run the stress suite. ``market``: a prepared market (skips
    :func:`prepare_market`; ``panel``, ``returns``, ``asof`` and ``unavailable`` are then ignored).
    """
    from risk_platform.risk.engine import assess_portfolio

    if market is None:
        market = prepare_market(panel, returns, instruments, asof, unavailable, config.ewma_lambda)
    if isinstance(model_inputs, ModelInputs):
        model_inputs = [model_inputs]
    return assess_portfolio(portfolio, market, config, list(model_inputs or []), copula, stress)
