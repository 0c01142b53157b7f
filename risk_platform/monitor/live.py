"""Live risk of a book between two daily closes: every VaR / ES method re-priced on each price update.

A full refresh (:func:`build_live_state`, at start, on a day roll, when the positions or the model aliases change)
prepares the market as of the last close, reads the aliased models' inputs (LSTM vols, GNN correlations, GAN/VAE
scenario sets, regime probabilities) and draws the vine-copula scenarios once, and computes the full daily report
(stress included). An update (:meth:`LiveState.revalue`) then changes only the last prices: the book is revalued
at them and every scenario set (the history window, filtered HS, the models' and the copula's draws) is re-priced
on the live book by the same engine (:func:`~risk_platform.risk.engine.assess_portfolio`, stress off); nothing is
regenerated.

Intraday moves combine with the daily history: the day's figures are the loss since the close (the book's full
revaluation at the live prices, losses positive) plus the risk of the remaining part of the 1-day horizon, the
live book's 1-day figures scaled by the square root of the remaining fraction of the session (close to close:
``remaining = (next close - now) / (next close - last close)``, clipped to [0, 1]). At the last close the day's
VaR is the 1-day VaR; at the next close it is the realised loss. Losses positive, USD.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from risk_platform.errors import ComputationError
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.engine import assess_portfolio, fit_book_copula
from risk_platform.risk.market import MarketState, prepare_market
from risk_platform.risk.measures import ewma_covariance
from risk_platform.risk.report import ModelInputs, PortfolioRisk, ScenarioSet
from risk_platform.risk.valuation import ValuedBook, value_book
from risk_platform.workflows.market_inputs import MarketInputs

DAY_FIGURES = ("var_95", "var_99", "es_95", "es_99")
HEADLINE_KEYS = {"var_95": "var_95", "var_99": "var_99", "es_95": "cvar_95", "es_99": "es_99"}
DEFAULT_CLOSE_UTC = "21:00"  # the New York close in winter (16:00 ET): the default end of a 1-day horizon


@dataclass(frozen=True)
class SessionClock:
    """The 1-day horizon between the last close and the next one (UTC)."""

    last_close: pd.Timestamp
    next_close: pd.Timestamp

    @classmethod
    def after(cls, close_date: pd.Timestamp, close_utc: str = DEFAULT_CLOSE_UTC,
              next_date: pd.Timestamp | None = None) -> SessionClock:
        """The session from ``close_date`` at ``close_utc`` (HH:MM) to ``next_date`` (default: the next business
        day) at the same time."""
        at = pd.Timedelta(f"{close_utc}:00")
        day = pd.Timestamp(close_date).normalize().tz_localize(None)
        following = pd.Timestamp(next_date).normalize() if next_date is not None else day + pd.offsets.BDay(1)
        return cls((day + at).tz_localize("UTC"), (pd.Timestamp(following) + at).tz_localize("UTC"))

    def remaining_fraction(self, now: pd.Timestamp) -> float:
        """Share of the 1-day horizon still ahead at ``now`` (1 at the last close, 0 at the next)."""
        span = (self.next_close - self.last_close).total_seconds()
        return float(min(1.0, max(0.0, (self.next_close - now).total_seconds() / span)))

    def statement(self, remaining: float) -> str:
        return (f"day's figures = loss since the {self.last_close:%Y-%m-%d %H:%M} UTC close + the live book's 1-day"
                f" figures x sqrt({remaining:.3f}), the share of the horizon to the {self.next_close:%Y-%m-%d %H:%M}"
                " UTC close still ahead")


@dataclass(frozen=True)
class ModelSet:
    """The aliased models' inputs a refresh read (empty with the reason when none) and their status."""

    inputs: tuple[ModelInputs, ...] = ()
    status: str = "no model registry configured: non-model methods only"

    @property
    def versions(self) -> list[str]:
        return sorted({mi.version(c) for mi in self.inputs for c in mi.versions})


@dataclass(frozen=True)
class LiveFigures:
    """One update's figures: the live report (1-day figures on the live book) and the day's figures."""

    time: pd.Timestamp
    report: PortfolioRisk
    loss_so_far: float
    remaining_fraction: float
    day: dict[str, float]  # var_95, var_99, es_95, es_99 of the day (loss so far + remaining horizon)
    methods: dict[str, dict[str, float]]  # per method, the same four day figures
    diversification_ratio: float
    compute_ms: float


@dataclass(frozen=True)
class LiveState:
    """What a refresh holds warm: the market at the close, the book valued there, the scenario sets and the
    models' inputs, the full daily report and the session clock."""

    portfolio: Portfolio
    market: MarketState
    config: RiskConfig
    models: ModelSet
    copula: ScenarioSet | None
    close: ValuedBook
    daily: PortfolioRisk
    clock: SessionClock
    factor_covariance: np.ndarray  # (k, k) EWMA covariance of the book's factors at the close
    built_ms: float

    @property
    def asof(self) -> pd.Timestamp:
        return self.market.asof

    def close_prices(self) -> pd.Series:
        return self.market.last_value

    def revalue(self, prices: Mapping[str, float], now: pd.Timestamp) -> LiveFigures:
        """The figures at the live ``prices`` (symbol -> last value since the close; the others keep their close)
        at time ``now``."""
        start = time.perf_counter()
        live_last = self.market.last_value.copy()
        known = [s for s in prices if s in live_last.index]
        live_last.loc[known] = [float(prices[s]) for s in known]
        market = replace(self.market, last_value=live_last)
        market.derived.update(self.market.derived)  # figures of the history alone stay valid
        growth = self._factor_growth(live_last)
        report = assess_portfolio(self._live_book(growth), market, self.config, self.models.inputs, self.copula,
                                  stress=False)
        loss = self._loss_since_close(live_last, growth)
        remaining = self.clock.remaining_fraction(now)
        scale = math.sqrt(remaining)
        day = {key: loss + scale * float(getattr(report, HEADLINE_KEYS[key])) for key in DAY_FIGURES}
        methods = {name: {key: loss + scale * float(res[key]) for key in DAY_FIGURES if res.get(key) is not None}
                   for name, res in report.methods.items()}
        return LiveFigures(now, report, loss, remaining, day, methods, self._diversification(growth.to_numpy()),
                           round(1000 * (time.perf_counter() - start), 2))

    def _factor_growth(self, live_last: pd.Series) -> pd.Series:
        """Each book factor's price ratio since the close (1 for yields, which move in bp, and for a zero close)."""
        names = self.close.names
        close = self.market.last_value.reindex(names).to_numpy(dtype=float)
        live = live_last.reindex(names).to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = np.where(np.asarray(self.close.is_bp, dtype=bool) | (close == 0), 1.0, live / close)
        return pd.Series(growth, index=names)

    def _live_book(self, growth: pd.Series) -> Portfolio:
        """The book with its notionals moved with the prices since the close: a notional is the USD value at the
        close of a fixed holding (futures contracts, a foreign-currency amount), so it grows with its
        instrument and its currency (``linear``), or with the pair for an FX position quoted in USD; USD-based FX,
        rates (DV01) and options (greeks) keep theirs. Positions by quantity are revalued at the live price by
        the engine itself."""
        positions = self.portfolio.positions
        if "notional" not in positions.columns or positions["notional"].isna().all():
            return self.portfolio
        table = self.close.table
        positive = growth.where(growth > 0, 1.0)  # a price through zero (WTI 2020) does not flip a notional

        def of(symbols: pd.Series) -> np.ndarray:
            return positive.reindex(symbols).fillna(1.0).to_numpy(dtype=float)

        kind = table["kind"].to_numpy(dtype=str)
        g_fx = of(table["fx_symbol"]) ** table["fx_sign"].to_numpy(dtype=float)
        factor = np.select([kind == "linear", kind == "fx_usd_quote"], [of(table["symbol"]) * g_fx,
                                                                         of(table["symbol"])], 1.0)
        scale = pd.Series(factor, index=table.index).reindex(positions.index, fill_value=1.0)
        return replace(self.portfolio, positions=positions.assign(notional=positions["notional"] * scale))

    def _loss_since_close(self, live_last: pd.Series, growth: pd.Series) -> float:
        """The book's loss (positive) from the close to ``live_last``, fully revalued."""
        names = self.close.names
        bp = np.asarray(self.close.is_bp, dtype=bool)
        g = growth.to_numpy()
        change_bp = 100.0 * (live_last.reindex(names).to_numpy(dtype=float)
                             - self.market.last_value.reindex(names).to_numpy(dtype=float))
        returns = np.where(bp, change_bp, np.log(np.where(g > 0, g, 1.0)))
        return -float(self.close.arrays.total_pnl(returns[None, :], g[None, :])[0])

    def _diversification(self, growth: np.ndarray) -> float:
        """Sum of the factors' standalone EWMA volatilities over the book's EWMA volatility (>= 1), on the close's
        first-order factor exposures moved with the live prices."""
        exposure = np.asarray(self.close.arrays.exposures(sparse=True).sum(axis=0)).ravel() * growth
        cov = self.factor_covariance
        sigma = math.sqrt(max(float(exposure @ cov @ exposure), 0.0))
        standalone = float(np.abs(exposure) @ np.sqrt(np.clip(np.diag(cov), 0.0, None)))
        return standalone / sigma if sigma > 0 else float("nan")


ModelReader = Callable[[pd.Timestamp], ModelSet]


def draw_copula(close: ValuedBook, market: MarketState, config: RiskConfig) -> ScenarioSet | None:
    """The vine-copula scenarios of the book's factors, drawn once per refresh (None when disabled or the fit
    fails: the live report then lacks that method, like the daily one)."""
    if not config.fit_copula or config.mc_scenarios <= 0:
        return None
    try:
        model = fit_book_copula(close, market, config)
    except ComputationError:
        return None
    return ScenarioSet(tuple(model.symbols), model.sample(config.mc_scenarios, config.seed, config.threads),
                       model.label)


def build_live_state(portfolio: Portfolio, inputs: MarketInputs, asof: pd.Timestamp | None, config: RiskConfig,
                     read_models: ModelReader | None = None, close_utc: str = DEFAULT_CLOSE_UTC,
                     next_close_date: pd.Timestamp | None = None) -> LiveState:
    """A full refresh as of ``asof`` (default: the last date of the data): market, models, copula draws, the daily
    report with stress, the session clock to ``next_close_date`` (default the next business day)."""
    start = time.perf_counter()
    market = prepare_market(inputs.panel, inputs.returns, inputs.instruments, asof, inputs.unavailable,
                            config.ewma_lambda, evaluation_date=config.evaluation_date,
                            flag_points=inputs.flag_points)
    models = read_models(market.asof) if read_models is not None else ModelSet()
    close = value_book(portfolio, market, config.hs_window)
    copula = draw_copula(close, market, config)
    daily = assess_portfolio(portfolio, market, config, models.inputs, copula, stress=True)
    factors = close.factors
    cov = ewma_covariance(factors.take(market.returns, factors.history), config.ewma_lambda)
    clock = SessionClock.after(market.asof, close_utc, next_close_date)
    return LiveState(portfolio, market, config, models, copula, close, daily, clock, np.asarray(cov, dtype=float),
                     round(1000 * (time.perf_counter() - start), 1))


def live_config(config: RiskConfig, mc_scenarios: int) -> RiskConfig:
    """The engine's settings for live use: ``mc_scenarios`` copula draws (drawn once per refresh)."""
    return replace(config, mc_scenarios=mc_scenarios, fit_copula=mc_scenarios > 0)
