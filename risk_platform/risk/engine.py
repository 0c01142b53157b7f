"""Portfolio risk on one as-of date: every VaR / ES method side by side (historical, parametric with EWMA or
model volatilities and correlations, Monte Carlo from model or vine-copula scenarios, filtered HS,
regime-adjusted blend), Euler contributions, liquidity and concentration, stress tests; the report names what
bound each figure. Losses are positive, USD, 1-day horizon.

Entry point: :func:`compute_portfolio_risk` (= :func:`~risk_platform.risk.market.prepare_market` +
:func:`assess_portfolio`). The assessment runs in stages, one function each, in this order: valuation
(:func:`~risk_platform.risk.valuation.value_book`), historical and parametric, filtered HS and the models'
Monte Carlo, vine copula, regime, liquidity, stress (:func:`~risk_platform.risk.stress.stress_suite`) and
the report. The formulas of each part live in ``valuation``, ``revaluation``, ``methods``, ``options``,
``copula``, ``stress`` and ``liquidity``.

The hot path is linear in positions: the book is folded once onto per-factor exposures
(:class:`~risk_platform.risk.revaluation.FactorMap`: value and delta per factor and FX feed, half gammas, DV01s,
vega, theta), every scenario set is revalued through them in float32 blocks (a model's array in its own column
order, without a copy), and per-position figures (ES and volatility contributions, stress P&L by position) come
from per-unit revaluations of the few scenarios that carry weight and from sparse exposures, by linear maps.
Figures derived from the market alone (crisis correlation, rate reference, the crisis windows' compounded
moves) are computed once per market state (:meth:`~risk_platform.risk.market.MarketState.once`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
import pandas as pd
from scipy.stats import norm
from threadpoolctl import ThreadpoolController

from risk_platform.errors import ComputationError
from risk_platform.portfolio.positions import Portfolio
from risk_platform.regime import REGIMES
from risk_platform.risk import methods as M
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.copula import CopulaModel, fit_vine_copula
from risk_platform.risk.data_flags import DataFlag, data_flags
from risk_platform.risk.liquidity import LiquidityConcentration, liquidity_concentration
from risk_platform.risk.market import MarketState, clock_staleness, prepare_market
from risk_platform.risk.measures import es_scenario_weights, ewma_covariance
from risk_platform.risk.report import (
    ModelInputs,
    PortfolioRisk,
    ScenarioSet,
    column_index,
    model_age_flags,
    worst_first,
)
from risk_platform.risk.stress import StressResult, nearest_correlation, stress_notes, stress_suite
from risk_platform.risk.valuation import ValuedBook, value_book

HEADLINES = {"var_95": "var_95", "var_99": "var_99", "cvar_95": "es_95", "es_99": "es_99"}
EMPIRICAL_REGIME_SOURCE = "empirical regime transitions (Markov, non-model)"
DEFAULT_CONFIG = RiskConfig()
NO_MODEL_NOTE = ("no model inputs: non-model methods only (historical, EWMA parametric, filtered HS, conditional"
                 " EVT, vine copula, regime-adjusted with empirical regime transitions)")


def compute_portfolio_risk(portfolio: Portfolio, panel: pd.DataFrame, returns: pd.DataFrame,
                           instruments: pd.DataFrame, asof: pd.Timestamp | None = None,
                           unavailable: dict[str, str] | None = None,
                           config: RiskConfig = DEFAULT_CONFIG, *,
                           model_inputs: ModelInputs | Sequence[ModelInputs] | None = None,
                           copula: CopulaModel | ScenarioSet | None = None,
                           stress: bool = True, market: MarketState | None = None,
                           flag_points: pd.DataFrame | None = None) -> PortfolioRisk:
    """Risk of ``portfolio`` on ``asof`` (default: the last date of the panel).

    ``unavailable`` maps symbols that must not be used (e.g. feeds rejected by the gate) to the reason;
    positions depending on them, or on a symbol without prices, are excluded and flagged.
    ``model_inputs``: one :class:`ModelInputs` per aliased set of model versions (LSTM vols, GNN
    correlations, GAN/VAE scenarios, regime probabilities); each adds its methods to the report.
    ``copula``: a fitted :class:`~risk_platform.risk.copula.VineCopulaModel` (or factor-structured
    :class:`~risk_platform.risk.copula.FactorCopulaModel`) or pre-drawn :class:`ScenarioSet` (else fitted here when
    ``config.fit_copula``). ``stress``: run the stress suite. ``market``: a prepared market (skips
    :func:`prepare_market`; ``panel``, ``returns``, ``asof``, ``unavailable``, ``flag_points`` and
    ``config.evaluation_date`` are then ignored: the prepared market carries its own). ``flag_points``: the
    plausibility gate's removed and unconfirmed points; the report's ``data_flags`` say what each affects.
    """
    if market is None:
        market = prepare_market(panel, returns, instruments, asof, unavailable, config.ewma_lambda,
                                evaluation_date=config.evaluation_date, flag_points=flag_points)
    if isinstance(model_inputs, ModelInputs):
        model_inputs = [model_inputs]
    return assess_portfolio(portfolio, market, config, list(model_inputs or []), copula, stress)


@cache
def _blas() -> ThreadpoolController:
    """The process's thread-pool controller (inspecting the loaded libraries once)."""
    return ThreadpoolController()


def assess_portfolio(portfolio: Portfolio, market: MarketState, config: RiskConfig,
                     model_inputs: Sequence[ModelInputs] = (), copula: CopulaModel | ScenarioSet | None = None,
                     stress: bool = True) -> PortfolioRisk:
    """The full report of ``portfolio`` on ``market`` (see :func:`compute_portfolio_risk` for the arguments).

    BLAS runs single-threaded here: every product is thin (n x k by a few columns), and on two shared cores
    OpenBLAS's thread hand-offs cost 3-4x more than they save (measured by the risk benchmark); large scenario
    sets are split over two threads by row blocks instead (:data:`~risk_platform.risk.revaluation.REVALUATION_THREADS`).
    """
    with _blas().limit(limits=1, user_api="blas"):
        return _assess(portfolio, market, config, model_inputs, copula, stress)


def _assess(portfolio: Portfolio, market: MarketState, config: RiskConfig, model_inputs: Sequence[ModelInputs],
            copula: CopulaModel | ScenarioSet | None, stress: bool) -> PortfolioRisk:
    """The stages in order, each timed (``timings_ms``)."""
    clock = _Clock()
    valued = value_book(portfolio, market, config.hs_window)
    clock.lap("valuation")
    historical, es_contrib, hs_pnl = historical_method(valued, market)
    parametric = parametric_methods(valued, market, config, model_inputs)
    clock.lap("historical_parametric")
    monte_carlo = filtered_and_model_monte_carlo(valued, market, model_inputs)
    evt, evt_note = evt_method(hs_pnl, historical, config)
    clock.lap("fhs_evt_model_mc")
    copula_result, copula_note = copula_method(valued, market, config, copula)
    clock.lap("copula")
    regime = regime_methods(valued, market, config, model_inputs, historical, parametric.ewma)
    clock.lap("regime")
    fhs = monte_carlo["filtered_historical"]
    results = {"historical": historical, **parametric.results, fhs.name: fhs,
               **({evt.name: evt} if evt is not None else {}), **monte_carlo,  # EVT listed beside filtered HS
               **({copula_result.name: copula_result} if copula_result is not None else {}), **regime.results}
    headline = {key: M.binding_method(results, figure) for key, figure in HEADLINES.items()}
    liquidity = book_liquidity(valued, headline, config)
    clock.lap("liquidity")
    stress_results = stress_suite(valued, market, config, model_inputs, parametric.ewma_vols,
                                  parametric.ewma_corr) if stress else {}
    clock.lap("stress")
    flags = data_flags(valued, market, config, results, headline, stress_results)
    notes = [*valued.notes, *(note for note in (evt_note, copula_note) if note),
             *([] if model_inputs else [NO_MODEL_NOTE]), *(stress_notes(valued, market) if stress else [])]
    return build_report(portfolio, market, config, valued, results, headline, parametric, es_contrib, liquidity,
                        regime, stress_results, model_inputs, notes, clock.laps, flags)


class _Clock:
    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(1000 * (now - self.t), 2)
        self.t = now


def _with(res: M.MethodResult, **changes) -> M.MethodResult:
    """``res`` with ``changes`` (``details`` merged into the existing ones)."""
    if "details" in changes:
        changes["details"] = {**res.details, **changes["details"]}
    return replace(res, **changes)


def _incomplete(res: M.MethodResult, missing: list[str]) -> M.MethodResult:
    """``res`` marked incomplete (out of the headlines) when the scenarios lacked some of the book's factors."""
    return _with(res, complete=False, details={"factors_missing_no_move": missing}) if missing else res


# ------------------------------------------------------------------------------ historical and parametric


def historical_method(valued: ValuedBook, market: MarketState) -> tuple[M.MethodResult, np.ndarray, np.ndarray]:
    """Historical simulation over the window, each position's Euler contribution to its ES99, and the book's
    P&L on each day of the window (oldest first)."""
    factors = valued.factors
    returns, growth = factors.take(market.returns, factors.window), factors.take(market.growth, factors.window)
    dates = market.dates[factors.window]
    start, end = f"{dates[0]:%Y-%m-%d}", f"{dates[-1]:%Y-%m-%d}"
    label = f"historical simulation ({len(dates)} days {start}..{end})"
    pnl = valued.arrays.total_pnl(returns, growth)
    result = M.historical_method(pnl, bound_by=label, window_start=start, window_end=end)
    contributions = -valued.arrays.weighted_position_pnl(returns, growth, es_scenario_weights(pnl, 0.99))
    return result, contributions, pnl


def evt_method(hs_pnl: np.ndarray, historical: M.MethodResult, config: RiskConfig
               ) -> tuple[M.MethodResult | None, str]:
    """Conditional EVT on historical simulation's P&L days (:func:`~risk_platform.risk.methods.conditional_evt_method`);
    (None, why) when the tail cannot be fitted, else (result, '')."""
    window = f"{historical.details['window_start']}..{historical.details['window_end']}"
    label = (f"conditional EVT (GPD above the {M.EVT_THRESHOLD:.0%} quantile of the P&L losses over EWMA lambda"
             f" {config.ewma_lambda}, {len(hs_pnl)} days {window})")
    try:
        return M.conditional_evt_method(hs_pnl, label, config.ewma_lambda), ""
    except ComputationError as exc:
        return None, f"conditional EVT skipped: {exc}"


@dataclass(frozen=True)
class ParametricMethods:
    """The delta-normal methods by name with each position's Euler volatility contribution, and the EWMA
    volatilities and correlation (over the book's factors) that the EWMA method and the fallbacks use."""

    results: dict[str, M.MethodResult]
    vol_contributions: dict[str, np.ndarray]
    ewma_vols: np.ndarray
    ewma_corr: np.ndarray

    @property
    def ewma(self) -> M.MethodResult:
        return self.results["parametric_ewma"]

    def most_volatile(self) -> str:
        """The method with the largest P&L volatility (it gives the report's volatility figures)."""
        return max(self.results, key=lambda k: self.results[k].sigma)


def parametric_methods(valued: ValuedBook, market: MarketState, config: RiskConfig,
                       model_inputs: Sequence[ModelInputs]) -> ParametricMethods:
    """Delta-normal VaR/ES with the EWMA covariance of the window, then with each model's volatilities and
    correlation (EWMA where the model has none)."""
    factors = valued.factors
    exposures = valued.arrays.exposures(sparse=True)
    ewma_vols, ewma_corr = M.correlation_from(ewma_covariance(factors.take(market.returns, factors.window),
                                                              config.ewma_lambda))
    label = f"EWMA covariance (lambda {config.ewma_lambda}, {len(factors.window)} days)"
    ewma, contrib = M.parametric_method(exposures, ewma_vols, ewma_corr, label, name="parametric_ewma")
    results = {ewma.name: _with(ewma, details={"lambda": config.ewma_lambda})}
    contributions = {ewma.name: contrib}
    for mi in model_inputs:
        if mi.vols is None and mi.correlation is None:
            continue
        vols, corr, label, missing = model_covariance(mi, valued.names, ewma_vols, ewma_corr)
        res, contrib = M.parametric_method(exposures, vols, corr, label, name=f"parametric[{mi.label}]")
        results[res.name] = _with(res, details={"factors_from_ewma": missing}) if missing else res
        contributions[res.name] = contrib
    return ParametricMethods(results, contributions, ewma_vols, ewma_corr)


def model_covariance(mi: ModelInputs, names: list[str], ewma_vols: np.ndarray, ewma_corr: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    """Model vols / correlation over the book's factors; factors the model lacks (or gives NaN for) take
    the EWMA figure, and a mixed correlation matrix is repaired to the nearest valid one. Returns the vols,
    the correlation, the label and the factors that fell back to EWMA."""
    index = {s: i for i, s in enumerate(mi.symbols)}
    have = np.array([n in index for n in names])
    pos = np.array([index.get(n, 0) for n in names])
    vols, corr, parts = ewma_vols.copy(), ewma_corr.copy(), []
    fallback: set[str] = {n for n, h in zip(names, have, strict=True) if not h}
    if mi.vols is not None:
        v = np.asarray(mi.vols, dtype=float)[pos]
        ok = have & np.isfinite(v) & (v >= 0)
        vols = np.where(ok, v, ewma_vols)
        fallback |= {n for n, o in zip(names, ok, strict=True) if not o}
        parts.append(f"vols {mi.version('vols')}")
    else:
        parts.append("vols EWMA")
    if mi.correlation is not None:
        c = np.asarray(mi.correlation, dtype=float)[np.ix_(pos, pos)]
        ok = np.outer(have, have) & np.isfinite(c)
        corr = np.where(ok, c, ewma_corr)
        np.fill_diagonal(corr, 1.0)
        if not ok.all():
            corr = nearest_correlation(corr)
            fallback |= {n for n, row in zip(names, ok, strict=True) if not row.all()}
        parts.append(f"correlation {mi.version('correlation')}")
    else:
        parts.append("correlation EWMA")
    missing = sorted(fallback)
    label = ", ".join(parts) + (f"; EWMA for {', '.join(missing)}" if missing else "")
    return vols, corr, label, missing


# ------------------------------------------------------------------------------------------ Monte Carlo


def filtered_and_model_monte_carlo(valued: ValuedBook, market: MarketState, model_inputs: Sequence[ModelInputs]
                                   ) -> dict[str, M.MethodResult]:
    """Filtered historical simulation, then each model's scenarios (incomplete when they lack a factor)."""
    factors = valued.factors
    fhs = M.filtered_historical_scenarios(factors.take(market.returns, factors.window),
                                          factors.take(market.observed, factors.window),
                                          factors.take(market.cond_var, factors.window), market.next_var[factors.cols])
    label = f"filtered HS (EWMA lambda {market.ewma_lambda}, {len(factors.window)} days)"
    result, _ = M.monte_carlo_method(valued.arrays, fhs, valued.is_bp, bound_by=label, name="filtered_historical",
                                     kind="filtered_historical")
    results = {result.name: result}
    for mi in model_inputs:
        for key, scen in mi.scenarios.items():
            r, columns, missing = column_index(scen, mi.symbols, valued.names)
            res, _ = M.monte_carlo_method(valued.arrays, r, valued.is_bp, bound_by=mi.version(key),
                                          name=f"monte_carlo_{key}[{mi.label}]", columns=columns)
            results[res.name] = _incomplete(res, missing)
    return results


def copula_method(valued: ValuedBook, market: MarketState, config: RiskConfig,
                  copula: CopulaModel | ScenarioSet | None) -> tuple[M.MethodResult | None, str]:
    """Vine-copula Monte Carlo from pre-drawn scenarios, a fitted model, or a model fitted here on the last
    ``config.copula_window`` days of the history; (None, why) when skipped, else (result, '')."""
    if isinstance(copula, ScenarioSet):
        r, columns, missing = column_index(copula.returns, copula.symbols, valued.names)
        res, _ = M.monte_carlo_method(valued.arrays, r, valued.is_bp, bound_by=copula.label, name="vine_copula",
                                      columns=columns)
        return _incomplete(res, missing), ""
    model = copula
    if model is None:
        if not config.fit_copula or config.mc_scenarios <= 0:
            return None, "vine copula Monte Carlo skipped (disabled in the configuration)"
        try:
            model = fit_book_copula(valued, market, config)
        except ComputationError as exc:
            return None, f"vine copula Monte Carlo skipped: {exc}"
    r, columns, missing = column_index(model.sample(config.mc_scenarios, config.seed, config.threads),
                                       model.symbols, valued.names)
    res, _ = M.monte_carlo_method(valued.arrays, r, valued.is_bp, bound_by=model.label, name="vine_copula",
                                  columns=columns, **model.tail_dependence())
    return _incomplete(res, missing), ""


def fit_book_copula(valued: ValuedBook, market: MarketState, config: RiskConfig) -> CopulaModel:
    """The vine copula of the book's factors over the last ``config.copula_window`` days of the history
    (factor-structured above ``config.copula_structured_above`` factors)."""
    factors = valued.factors
    rows = factors.history[-config.copula_window:]
    x = np.where(factors.take(market.observed, rows), factors.take(market.returns, rows), np.nan)
    d = market.dates[rows]
    return fit_vine_copula(x, factors.names, config.copula_families, config.copula_trunc_lvl, config.threads,
                           start=f"{d[0]:%Y-%m-%d}", end=f"{d[-1]:%Y-%m-%d}",
                           structured_above=config.copula_structured_above, n_factors=config.copula_factors)


# ------------------------------------------------------------------------------------------------ regime


@dataclass(frozen=True)
class RegimeMethods:
    """The regime-adjusted methods, the calibration they share, the current regime and the next-day regime
    probability with its source (the first model that gives one, else the empirical transitions)."""

    results: dict[str, M.MethodResult]
    calibration: M.RegimeCalibration
    current: str
    probability: dict[str, float]
    source: str


def regime_methods(valued: ValuedBook, market: MarketState, config: RiskConfig, model_inputs: Sequence[ModelInputs],
                   historical: M.MethodResult, ewma: M.MethodResult) -> RegimeMethods:
    """The regime-adjusted blend of ``historical`` and ``ewma`` calibrated on the book's P&L history, with the
    market regime rule, then with each model's regime probabilities."""
    factors = valued.factors
    pnl_history = valued.arrays.total_pnl(factors.take(market.returns, factors.history),
                                          factors.take(market.growth, factors.history))
    calibration = M.calibrate_regime_blend(pnl_history, market.regimes.to_numpy()[factors.history],
                                           config.hs_window, config.ewma_lambda, dates=market.dates[factors.history])
    current, probability, source = market.current_regime(), market.regime_transition_probability(), None
    label = (f"w, k calibrated on {calibration.start}..{calibration.end}; regime {current}"
             " (market volatility rank rule)")
    results = {"regime_adjusted": M.regime_adjusted_method(historical, ewma, calibration, current, None,
                                                           bound_by=label)}
    for mi in model_inputs:
        if not mi.regime_probability:
            continue
        probs = {r: float(mi.regime_probability.get(r, np.nan)) for r in REGIMES}
        name = f"regime_adjusted[{mi.label}]"
        results[name] = M.regime_adjusted_method(historical, ewma, calibration, current, probs, name=name,
                                                 bound_by=f"{label}; probabilities {mi.version('regime')}")
        if source is None:  # the first model's probabilities are the report's (later models blend on its regime)
            probability, source = probs, mi.version("regime")
            current = max(probs, key=probs.get)
    return RegimeMethods(results, calibration, current, probability, source or EMPIRICAL_REGIME_SOURCE)


# ---------------------------------------------------------------------------------------------- liquidity


def book_liquidity(valued: ValuedBook, headline: dict[str, M.MethodResult], config: RiskConfig
                   ) -> LiquidityConcentration:
    """Liquidity and concentration of the valued positions, the liquidity-adjusted VaR on the headline VaR."""
    table = valued.table
    return liquidity_concentration(valued.arrays.labels, valued.arrays.exposure_usd,
                                   table["avg_daily_volume"].to_numpy(dtype=float),
                                   table["bid_ask_bps"].to_numpy(dtype=float), valued.asset_class,
                                   table["sector"].to_numpy(dtype=str), table["region"].to_numpy(dtype=str),
                                   valued.nav, headline["var_95"].var_95, headline["var_99"].var_99,
                                   config.participation)


# ------------------------------------------------------------------------------------------------ report


def build_report(portfolio: Portfolio, market: MarketState, config: RiskConfig, valued: ValuedBook,
                 results: dict[str, M.MethodResult], headline: dict[str, M.MethodResult],
                 parametric: ParametricMethods, es_contrib: np.ndarray, liquidity: LiquidityConcentration,
                 regime: RegimeMethods, stress_results: dict[str, StressResult],
                 model_inputs: Sequence[ModelInputs], notes: list[str], timings_ms: dict[str, float],
                 flags: Sequence[DataFlag] = ()) -> PortfolioRisk:
    """The report: headline figures of the binding methods, every method, positions, flags (positions and
    market data points), what bound each figure, liquidity and concentration, stress, regime and the model
    versions used."""
    vol_name = parametric.most_volatile()
    vol_res, vol_c = parametric.results[vol_name], parametric.vol_contributions[vol_name]
    stale_symbols = valued.stale_symbols
    versions = sorted({v for mi in model_inputs for v in [mi.version(c) for c in mi.versions] or [mi.label]})
    liq = liquidity
    too_old = clock_staleness(market, config.max_data_age_sessions)
    return PortfolioRisk(
        asof=f"{market.asof:%Y-%m-%d}", portfolio=portfolio.name, nav=float(valued.nav),
        nav_source=portfolio.nav_source, var_95=headline["var_95"].var_95, var_99=headline["var_99"].var_99,
        cvar_95=headline["cvar_95"].es_95, es_99=headline["es_99"].es_99, es_95=headline["cvar_95"].es_95,
        portfolio_volatility=float(vol_res.sigma), methods={name: res.to_dict() for name, res in results.items()},
        positions=_records(_positions_columns(valued, es_contrib, parametric.vol_contributions["parametric_ewma"],
                                              vol_c, liq)),
        vol_contribution=dict(zip(valued.arrays.labels, map(float, vol_c), strict=True)),
        largest_position=liq.largest_position, largest_position_pct=liq.largest_position_pct,
        herfindahl_index=liq.herfindahl_index, flagged_positions=list(valued.flagged),
        coverage_pct_gross=valued.coverage_pct_gross, notes=notes,
        bound_by=_bound_by(headline, vol_name, vol_res, config, regime.source, stale_symbols),
        sector_concentration=liq.sector_concentration, asset_class_concentration=liq.asset_class_concentration,
        region_concentration=liq.region_concentration, liquidity_score=liq.liquidity_score,
        days_to_liquidate_portfolio=liq.days_to_liquidate_portfolio,
        liquidity={k: v for k, v in liq.to_dict().items() if k != "days_to_liquidate"},
        stress_test_results=worst_first({name: s.to_dict() for name, s in stress_results.items()}),
        current_regime=regime.current, regime_probability=regime.probability,
        regime_calibration=regime.calibration.to_dict(), model_versions=versions, stale=bool(stale_symbols),
        stale_symbols=stale_symbols, timings_ms=timings_ms, evaluation_date=f"{market.evaluation_date:%Y-%m-%d}",
        feed_age_sessions=dict(market.age), max_data_age_sessions=config.max_data_age_sessions,
        stale_against_clock=bool(too_old), stale_against_clock_reason=too_old,
        data_flags=[flag.to_dict() for flag in flags],
        model_age_flags=model_age_flags(model_inputs, market.asof, config.max_model_age_days),
    )


def _positions_columns(valued: ValuedBook, es_contrib: np.ndarray, ewma_vol_contrib: np.ndarray,
                       vol_contrib: np.ndarray, liq: LiquidityConcentration) -> dict[str, np.ndarray]:
    """The report's positions table as columns."""
    table, arrays, labels = valued.table, valued.arrays, valued.arrays.labels
    return {
        "position": list(labels), "symbol": table["symbol"].to_numpy(dtype=str),
        "kind": table["kind"].to_numpy(dtype=str),
        "asset_class": valued.asset_class, "value_usd": table["value_usd"].to_numpy(dtype=float),
        "exposure_usd": arrays.exposure_usd, "weight_pct_nav": 100 * arrays.exposure_usd / valued.nav,
        "price": table["price"].to_numpy(dtype=float),
        "price_date": table["price_date"].dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
        "stale": table["stale"].to_numpy(dtype=bool), "hs_es_99_contribution": es_contrib,
        "param_var_99_contribution": norm.ppf(0.99) * ewma_vol_contrib, "vol_contribution": vol_contrib,
        "days_to_liquidate": np.array([liq.days_to_liquidate[p] for p in labels]),
    }


def _bound_by(headline: dict[str, M.MethodResult], vol_name: str, vol_res: M.MethodResult, config: RiskConfig,
              regime_source: str, stale_symbols: list[str]) -> dict[str, str]:
    """What bound each figure of the report (every entry tagged with the stale symbols, if any)."""
    bound_by = {key: f"{res.name}: {res.bound_by}" for key, res in headline.items()}
    bound_by.update({
        "es_95": bound_by["cvar_95"],
        "portfolio_volatility": f"{vol_name}: {vol_res.bound_by}",
        "vol_contribution": f"{vol_name}: Euler contributions",
        "largest_position_pct": "positions file (exposure / NAV)",
        "herfindahl_index": "positions file (absolute exposure shares)",
        "sector_concentration": "positions file (absolute exposure shares)",
        "liquidity_score": f"positions file ADV at {config.participation:.0%} participation",
        "days_to_liquidate_portfolio": f"positions file ADV at {config.participation:.0%} participation",
        "current_regime": regime_source if regime_source != EMPIRICAL_REGIME_SOURCE
        else "market volatility regime rule (median EWMA-vol rank across feeds)",
        "regime_probability": regime_source,
        "stress_test_results": "full revaluation of today's book (see each result's details)",
    })
    if stale_symbols:
        bound_by = {k: v + " [STALE: " + ", ".join(stale_symbols) + "]" for k, v in bound_by.items()}
    return bound_by


def _records(columns: dict[str, np.ndarray]) -> list[dict]:
    """Column arrays -> one dict of plain Python values per row (faster than ``DataFrame.to_dict``)."""
    keys = list(columns)
    values = [np.asarray(columns[k]).tolist() for k in keys]
    return [dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True)]
