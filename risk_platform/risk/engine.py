"""The full risk assessment of one book on a prepared market: every VaR method, contributions, liquidity and
concentration, regime, stress suite; the report names what bound each figure.

Hot path (:func:`assess_portfolio`) is vectorised: positions are revalued as arrays and portfolio totals go
through positions grouped by factor, so 1,000 positions x 50,000 scenarios cost as much as the few dozen
distinct factor groups. The market arrays come from :func:`risk_platform.risk.market.prepare_market`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk_platform.errors import ComputationError, InputError
from risk_platform.features.engineering import REGIMES
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk import methods as M
from risk_platform.risk import stress as S
from risk_platform.risk.copula import VineCopulaModel, fit_vine_copula
from risk_platform.risk.liquidity import liquidity_concentration
from risk_platform.risk.market import CRISIS_WINDOWS, MarketState, session_count
from risk_platform.risk.measures import ewma_covariance, historical_es_contributions
from risk_platform.risk.report import ModelInputs, PortfolioRisk, ScenarioSet
from risk_platform.risk.revaluation import VIX, BookArrays, growth_from_returns, lookup

MIN_HISTORY_COVERAGE = 0.9
HEADLINES = {"var_95": "var_95", "var_99": "var_99", "cvar_95": "es_95", "es_99": "es_99"}


@dataclass(frozen=True)
class _Factors:
    names: list[str]
    cols: np.ndarray  # into market.symbols
    window: np.ndarray  # rows of the historical window
    history: np.ndarray  # rows since every factor started (regime calibration, stress bootstrap)


_BLAS = None


def assess_portfolio(portfolio: Portfolio, market: MarketState, config, model_inputs: Sequence[ModelInputs] = (),
                     copula: VineCopulaModel | ScenarioSet | None = None, stress: bool = True) -> PortfolioRisk:
    """The full report of ``portfolio`` on ``market`` (see :func:`~risk_platform.risk.portfolio_risk.
    compute_portfolio_risk` for the arguments).

    BLAS runs single-threaded here: every product is thin (n x k with k <= ~30 factors), and on two shared
    cores OpenBLAS's thread hand-offs cost 3-4x more than they save (measured in ``bench_risk``).
    """
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    with _BLAS.limit(limits=1, user_api="blas"):
        return _assess(portfolio, market, config, model_inputs, copula, stress)


def _assess(portfolio: Portfolio, market: MarketState, config, model_inputs: Sequence[ModelInputs],
            copula: VineCopulaModel | ScenarioSet | None, stress: bool) -> PortfolioRisk:
    from risk_platform.risk.portfolio_risk import value_positions

    clock = _Clock()
    asof = market.asof
    book, notes = value_positions(portfolio, None, market.instruments.reset_index(), asof, last=market)
    book, flagged, keep, gross_all = _flags(book, market)
    if book.empty:
        raise InputError("no position can be valued: every position depends on an unavailable feed")
    names = sorted((set(book["symbol"]) | set(book["fx_symbol"]) | ({VIX} if (book["kind"] == "option").any()
                                                                       else set())) - {""})
    fac = _factor_rows(market, names, config.hs_window)
    flagged += _short_histories(book, market, fac)
    arrays = BookArrays.from_book(book, names, vix_level=float(market.last_value.get(VIX, np.nan)))
    is_bp = market.is_bp[fac.cols]
    r_win, g_win = market.returns[np.ix_(fac.window, fac.cols)], market.growth[np.ix_(fac.window, fac.cols)]
    dates = market.dates[fac.window]
    clock.lap("valuation")

    results: dict[str, M.MethodResult] = {}
    pos_pnl = arrays.position_pnl(r_win, g_win)
    total = pos_pnl.sum(axis=1)
    hs_label = f"historical simulation ({len(dates)} days {dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d})"
    results["historical"] = M.historical_method(total, bound_by=hs_label, window_start=f"{dates[0]:%Y-%m-%d}",
                                                window_end=f"{dates[-1]:%Y-%m-%d}")
    es_contrib = historical_es_contributions(pos_pnl, 0.99)

    exposures = arrays.exposures()
    ewma_vols, ewma_corr = M.correlation_from(ewma_covariance(r_win, config.ewma_lambda))
    ewma_label = f"EWMA covariance (lambda {config.ewma_lambda}, {len(dates)} days)"
    param, vol_contrib = M.parametric_method(exposures, ewma_vols, ewma_corr, ewma_label, name="parametric_ewma")
    results["parametric_ewma"] = param
    parametric = {"parametric_ewma": (param, vol_contrib)}
    for mi in model_inputs:
        if mi.vols is None and mi.correlation is None:
            continue
        vols, corr, label, missing = _model_cov(mi, names, ewma_vols, ewma_corr)
        name = f"parametric[{mi.label}]"
        res, contrib = M.parametric_method(exposures, vols, corr, label, name=name)
        if missing:
            res = _with(res, details={"factors_from_ewma": missing})
        results[name], parametric[name] = res, (res, contrib)
    clock.lap("historical_parametric")

    fhs = M.filtered_historical_scenarios(r_win, market.observed[np.ix_(fac.window, fac.cols)],
                                          market.cond_var[np.ix_(fac.window, fac.cols)], market.next_var[fac.cols])
    results["filtered_historical"], _ = M.monte_carlo_method(
        arrays, fhs, is_bp, bound_by=f"filtered HS (EWMA lambda {market.ewma_lambda}, {len(dates)} days)",
        name="filtered_historical", kind="filtered_historical")
    for mi in model_inputs:
        for key, scen in mi.scenarios.items():
            r, missing = _columns(scen, mi.symbols, names)
            res, _ = M.monte_carlo_method(arrays, r, is_bp, bound_by=mi.version(key),
                                          name=f"monte_carlo_{key}[{mi.label}]")
            if missing:
                res = _with(res, complete=False, details={"factors_missing_no_move": missing})
            results[res.name] = res
    clock.lap("fhs_model_mc")
    copula_result, copula_note = _copula_method(arrays, market, fac, names, is_bp, config, copula)
    if copula_result is not None:
        results[copula_result.name] = copula_result
    if copula_note:
        notes.append(copula_note)
    clock.lap("copula")

    pnl_hist = arrays.total_pnl(market.returns[np.ix_(fac.history, fac.cols)],
                                market.growth[np.ix_(fac.history, fac.cols)])
    regimes_hist = market.regimes.to_numpy()[fac.history]
    calibration = M.calibrate_regime_blend(pnl_hist, regimes_hist, config.hs_window, config.ewma_lambda,
                                           dates=market.dates[fac.history])
    current_regime = market.current_regime()
    regime_probability = market.regime_transition_probability()
    regime_source = "empirical regime transitions (Markov, non-model)"
    calib_label = (f"w, k calibrated on {calibration.start}..{calibration.end}; regime {current_regime}"
                   " (market volatility rank rule)")
    results["regime_adjusted"] = M.regime_adjusted_method(results["historical"], param, calibration, current_regime,
                                                          None, bound_by=calib_label)
    for mi in model_inputs:
        if mi.regime_probability:
            probs = {r: float(mi.regime_probability.get(r, np.nan)) for r in REGIMES}
            name = f"regime_adjusted[{mi.label}]"
            label = f"{calib_label}; probabilities {mi.version('regime')}"
            results[name] = M.regime_adjusted_method(results["historical"], param, calibration, current_regime,
                                                     probs, bound_by=label, name=name)
            if regime_source.startswith("empirical"):
                regime_probability, regime_source = probs, mi.version("regime")
                current_regime = max(probs, key=probs.get)
    clock.lap("regime")

    all_methods = M.RiskMethods(results)
    headline = {key: all_methods.binding(fig) for key, fig in HEADLINES.items()}
    vol_name = max(parametric, key=lambda k: parametric[k][0].sigma)
    vol_res, vol_c = parametric[vol_name]
    labels = arrays.labels
    asset_class = book["asset_class"].to_numpy(dtype=str)
    nav = portfolio.nav if np.isfinite(portfolio.nav) else float(np.abs(arrays.exposure_usd).sum())
    liq = liquidity_concentration(labels, arrays.exposure_usd, book["avg_daily_volume"].to_numpy(dtype=float),
                                  book["bid_ask_bps"].to_numpy(dtype=float), asset_class,
                                  book["sector"].to_numpy(dtype=str), book["region"].to_numpy(dtype=str), nav,
                                  headline["var_95"].var_95, headline["var_99"].var_99, config.participation)
    clock.lap("liquidity")

    stress_results = {}
    if stress:
        stress_results = _stress_suite(arrays, market, fac, is_bp, names, book, asset_class, nav, model_inputs,
                                       ewma_vols, ewma_corr, config)
    clock.lap("stress")

    positions_out = ({
        "position": list(labels), "symbol": book["symbol"].to_numpy(dtype=str),
        "kind": book["kind"].to_numpy(dtype=str),
        "asset_class": asset_class, "value_usd": book["value_usd"].to_numpy(dtype=float),
        "exposure_usd": arrays.exposure_usd, "weight_pct_nav": 100 * arrays.exposure_usd / nav,
        "price": book["price"].to_numpy(dtype=float),
        "price_date": book["price_date"].dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
        "stale": book["stale"].to_numpy(dtype=bool), "hs_es_99_contribution": es_contrib,
        "param_var_99_contribution": M.norm.ppf(0.99) * vol_contrib, "vol_contribution": vol_c,
        "days_to_liquidate": np.array([liq.days_to_liquidate[p] for p in labels]),
    })
    stale_symbols = sorted({f["symbol"] for f in flagged if not f["excluded"] and "stale" in f["reason"]})
    versions = sorted({v for mi in model_inputs for v in [mi.version(c) for c in mi.versions] or [mi.label]})
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
        "current_regime": regime_source if not regime_source.startswith("empirical")
        else "market volatility regime rule (median EWMA-vol rank across feeds)",
        "regime_probability": regime_source,
        "stress_test_results": "full revaluation of today's book (see each result's details)",
    })
    if stale_symbols:
        bound_by = {k: v + " [STALE: " + ", ".join(stale_symbols) + "]" for k, v in bound_by.items()}
    if not model_inputs:
        notes.append("no model inputs: non-model methods only (historical, EWMA parametric, filtered HS, vine copula,"
                     " regime-adjusted with empirical regime transitions)")
    gross = float(np.abs(arrays.exposure_usd).sum())
    return PortfolioRisk(
        asof=f"{asof:%Y-%m-%d}", portfolio=portfolio.name, nav=float(nav), nav_source=portfolio.nav_source,
        var_95=headline["var_95"].var_95, var_99=headline["var_99"].var_99, cvar_95=headline["cvar_95"].es_95,
        es_99=headline["es_99"].es_99, es_95=headline["cvar_95"].es_95, portfolio_volatility=float(vol_res.sigma),
        methods={name: _method_dict(res) for name, res in results.items()},
        positions=_records(positions_out),
        vol_contribution=dict(zip(labels, map(float, vol_c), strict=True)),
        largest_position=liq.largest_position, largest_position_pct=liq.largest_position_pct,
        herfindahl_index=liq.herfindahl_index, flagged_positions=flagged,
        coverage_pct_gross=float(100 * gross / gross_all) if gross_all else 0.0, notes=notes, bound_by=bound_by,
        sector_concentration=liq.sector_concentration, asset_class_concentration=liq.asset_class_concentration,
        region_concentration=liq.region_concentration, liquidity_score=liq.liquidity_score,
        days_to_liquidate_portfolio=liq.days_to_liquidate_portfolio,
        liquidity={k: v for k, v in liq.to_dict().items() if k != "days_to_liquidate"},
        stress_test_results={name: s.to_dict() for name, s in stress_results.items()},
        current_regime=current_regime, regime_probability=regime_probability,
        regime_calibration=calibration.to_dict(), model_versions=versions, stale=bool(stale_symbols),
        stale_symbols=stale_symbols, timings_ms=clock.laps,
    )


class _Clock:
    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(1000 * (now - self.t), 2)
        self.t = now


def _with(res: M.MethodResult, **changes) -> M.MethodResult:
    from dataclasses import replace

    if "details" in changes:
        changes["details"] = {**res.details, **changes["details"]}
    return replace(res, **changes)


def _method_dict(res: M.MethodResult) -> dict:
    d = res.to_dict()
    d.update(d.pop("details"))
    if res.kind == "historical":
        d["n_scenarios"] = res.n_scenarios
    if res.kind == "parametric" and res.name == "parametric_ewma":
        d["lambda"] = float(res.bound_by.split("lambda ")[1].split(",")[0])
    return d


def _dependencies(book: pd.DataFrame) -> list[np.ndarray]:
    """The feeds each position needs: its own, its currency's FX feed, VIX for options ('' when none)."""
    return [book["symbol"].to_numpy(dtype=str), book["fx_symbol"].to_numpy(dtype=str),
            np.where(book["kind"].to_numpy(dtype=str) == "option", VIX, "")]


def _flags(book: pd.DataFrame, market: MarketState) -> tuple[pd.DataFrame, list[dict], np.ndarray, float]:
    """Exclude positions whose feeds (own, FX, VIX for options) are unusable; flag stale ones (vectorised)."""
    unusable = {s: f"depends on {s}: {r}" for s, r in market.unusable.items()}
    problem = np.full(len(book), "", dtype=object)
    stale = np.full(len(book), "", dtype=object)
    for dep in _dependencies(book):
        reason = lookup(dep, unusable, "")
        problem = np.where(problem == "", reason, problem)
        st = lookup(dep, market.stale, "")
        stale = np.where(st == "", stale, np.where(stale == "", st, stale + "; " + st))
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
    return book[keep].reset_index(drop=True), flagged, keep, gross_all


def _factor_rows(market: MarketState, names: list[str], window: int) -> _Factors:
    cols = market.columns(names)
    rows = np.flatnonzero(market.observed[:, cols].any(axis=1))
    if len(rows) < window:
        raise ComputationError(f"only {len(rows)} days of returns up to {market.asof:%Y-%m-%d}; historical"
                               f" simulation needs {window}")
    first = np.argmax(market.observed[:, cols], axis=0).max()
    history = rows[rows >= first]
    if len(history) < window + 60:
        history = rows
    return _Factors(names, cols, rows[-window:], history)


def _short_histories(book: pd.DataFrame, market: MarketState, fac: _Factors) -> list[dict]:
    start, end = market.dates[fac.window[0]], market.dates[fac.window[-1]]
    observed = market.observed[np.ix_(fac.window, fac.cols)].sum(axis=0)
    cal = market.instruments["calendar"]
    coverage = {f: (observed[i] / n if (n := session_count(cal[f], start, end)) else 0.0)
                for i, f in enumerate(fac.names)}
    worst_cov = np.full(len(book), np.inf)
    worst_dep = np.full(len(book), "", dtype=object)
    for dep in _dependencies(book):
        c = lookup(dep, coverage, np.inf).astype(float)
        better = c < worst_cov
        worst_cov, worst_dep = np.where(better, c, worst_cov), np.where(better, dep, worst_dep)
    symbols, labels = book["symbol"].to_numpy(dtype=str), book["position"].to_numpy(dtype=str)
    value = book["value_usd"].to_numpy(dtype=float)
    return [{"symbol": symbols[j], "position": labels[j], "excluded": False, "notional": _finite(value[j]),
             "reason": f"short history: {worst_dep[j]} has returns on {worst_cov[j]:.0%} of its venue's"
             f" sessions in the {len(fac.window)}-day window (missing days count as no move)"}
            for j in np.flatnonzero(worst_cov < MIN_HISTORY_COVERAGE)]


def _columns(array, symbols: Sequence[str], names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Columns of ``array`` (.., len(symbols)) reordered to ``names``; missing ones are 0 (listed).
    ``array`` may be a :class:`ScenarioSet` carrying its own symbols."""
    if isinstance(array, ScenarioSet):
        array, symbols = array.returns, array.symbols
    array = np.asarray(array)
    if array.shape[-1] != len(symbols):
        raise InputError(f"model array has {array.shape[-1]} columns but {len(symbols)} symbols are named")
    if tuple(symbols) == tuple(names):
        return array, []
    index = {s: i for i, s in enumerate(symbols)}
    missing = [n for n in names if n not in index]
    out = array[..., [index.get(n, 0) for n in names]]
    if missing:
        out[..., [j for j, n in enumerate(names) if n not in index]] = 0.0
    return out, missing


def _model_cov(mi: ModelInputs, names: list[str], ewma_vols: np.ndarray, ewma_corr: np.ndarray):
    """Model vols / correlation over the book's factors; factors the model lacks (or gives NaN for) take
    the EWMA figure, and a mixed correlation matrix is repaired to the nearest valid one."""
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
            corr = S.nearest_correlation(corr)
            fallback |= {n for n, row in zip(names, ok, strict=True) if not row.all()}
        parts.append(f"correlation {mi.version('correlation')}")
    else:
        parts.append("correlation EWMA")
    missing = sorted(fallback)
    label = ", ".join(parts) + (f"; EWMA for {', '.join(missing)}" if missing else "")
    return vols, corr, label, missing


def _copula_method(arrays: BookArrays, market: MarketState, fac: _Factors, names: list[str], is_bp: np.ndarray,
                   config, copula) -> tuple[M.MethodResult | None, str]:
    if isinstance(copula, ScenarioSet):
        r, missing = _columns(copula.returns, copula.symbols, names)
        res, _ = M.monte_carlo_method(arrays, r, is_bp, bound_by=copula.label, name="vine_copula")
        return (_with(res, complete=False, details={"factors_missing_no_move": missing}) if missing else res), ""
    model = copula
    if model is None:
        if not config.fit_copula or config.mc_scenarios <= 0:
            return None, "vine copula Monte Carlo skipped (disabled in the configuration)"
        rows = fac.history[-config.copula_window:]
        x = np.where(market.observed[np.ix_(rows, fac.cols)], market.returns[np.ix_(rows, fac.cols)], np.nan)
        d = market.dates[rows]
        try:
            model = fit_vine_copula(x, names, config.copula_families, config.copula_trunc_lvl, config.threads,
                                    start=f"{d[0]:%Y-%m-%d}", end=f"{d[-1]:%Y-%m-%d}")
        except ComputationError as exc:
            return None, f"vine copula Monte Carlo skipped: {exc}"
    r, missing = _columns(model.sample(config.mc_scenarios, config.seed, config.threads), model.symbols, names)
    res, _ = M.monte_carlo_method(arrays, r, is_bp, bound_by=model.label, name="vine_copula",
                                  **model.tail_dependence())
    return (_with(res, complete=False, details={"factors_missing_no_move": missing}) if missing else res), ""


def crisis_correlation(market: MarketState, cols: np.ndarray) -> tuple[np.ndarray, str]:
    """Correlation pooled over the crisis windows' days up to asof (pairs on days both moved)."""
    mask = np.zeros(len(market.dates), dtype=bool)
    used = []
    for name, (start, end) in CRISIS_WINDOWS.items():
        sel = (market.dates >= pd.Timestamp(start)) & (market.dates <= min(pd.Timestamp(end), market.asof))
        if sel.any():
            mask |= sel
            used.append(name)
    x = np.where(market.observed[np.ix_(mask, cols)], market.returns[np.ix_(mask, cols)], np.nan)
    corr = pd.DataFrame(x).corr(min_periods=20).to_numpy()
    corr = np.nan_to_num(corr)
    np.fill_diagonal(corr, 1.0)
    return corr, "pooled " + ", ".join(used)


def _stress_suite(arrays: BookArrays, market: MarketState, fac: _Factors, is_bp: np.ndarray, names: list[str],
                  book: pd.DataFrame, asset_class: np.ndarray, nav: float, model_inputs: Sequence[ModelInputs],
                  ewma_vols: np.ndarray, ewma_corr: np.ndarray, config) -> dict[str, S.StressResult]:
    out: dict[str, S.StressResult] = {}
    asset_class = S.encode(asset_class)  # once for every scenario
    first = market.first_observed()
    for name, (start, end) in CRISIS_WINDOWS.items():
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        if end > market.asof:
            continue
        rows = np.flatnonzero((market.dates >= start) & (market.dates <= end))
        if len(rows) == 0:
            continue
        missing = [f for f in names if first[f] > start]
        for res in S.replay_window(arrays, name, market.dates[rows], market.returns[np.ix_(rows, fac.cols)],
                                   market.growth[np.ix_(rows, fac.cols)], is_bp, asset_class, nav, missing):
            out[res.name] = res
    window_r = market.returns[np.ix_(fac.window, fac.cols)]
    ref = names.index(S.RATE_REFERENCE) if S.RATE_REFERENCE in names else None
    rate_beta = {}
    if ref is None and S.RATE_REFERENCE in market.symbols:
        ref_col = market.columns([S.RATE_REFERENCE])[0]
        ref_series = market.returns[fac.window, ref_col]
    else:
        ref_series = window_r[:, ref] if ref is not None else None
    inst = market.instruments
    if ref_series is not None:
        rates_price = [i for i, f in enumerate(names) if inst.at[f, "asset_class"] == "rates"
                       and inst.at[f, "quote_type"] != "yield_pct"]
        betas = S.rate_betas(window_r[:, rates_price], ref_series) if rates_price else []
        rate_beta = {names[i]: float(b) for i, b in zip(rates_price, betas, strict=True)}
    credit = set(book.loc[book["asset_class"].str.lower() == "credit", "symbol"])
    moves = S.hypothetical_moves(tuple(names), inst, credit, rate_beta)
    for res in S.hypothetical_stress(arrays, moves, asset_class, nav, rate_beta):
        out[res.name] = res
    generated = [(f"generated stress: {key} [{mi.label}]", _columns(scen, mi.symbols, names)[0], mi.version(key), None)
                 for mi in model_inputs for key, scen in mi.stress_scenarios.items()]
    if not generated and config.mc_scenarios > 0:
        high = fac.history[market.regimes.to_numpy()[fac.history] == "high"]
        if len(high):
            rng = np.random.default_rng(config.seed)
            pick = high[rng.integers(0, len(high), config.mc_scenarios)]
            r = market.returns[np.ix_(pick, fac.cols)]
            g = market.growth[np.ix_(pick, fac.cols)]
            d = market.dates[high]
            generated.append(("generated stress: high-regime bootstrap", r,
                              f"bootstrap of {len(high)} high-regime days {d[0]:%Y-%m-%d}..{d[-1]:%Y-%m-%d}"
                              " (non-model)", g))
    for name, r, label, g in generated:
        out[name] = S.generated_stress(arrays, r, is_bp, name, label, asset_class, nav, config.stress_share,
                                       growth=g)
    crisis_corr, crisis_label = crisis_correlation(market, fac.cols)
    res = S.counterfactual_correlation(arrays, ewma_vols, ewma_corr, crisis_corr, asset_class, nav,
                                       crisis_label=crisis_label)
    out[res.name] = res
    return out


def _records(columns: dict[str, np.ndarray]) -> list[dict]:
    """Column arrays -> one dict of plain Python values per row (faster than ``DataFrame.to_dict``)."""
    keys = list(columns)
    values = [np.asarray(columns[k]).tolist() for k in keys]
    return [dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True)]


def _finite(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


__all__ = ["assess_portfolio", "crisis_correlation", "growth_from_returns"]
