"""Every VaR method, options, liquidity, stress building blocks: hand-computed and scipy reference values."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import norm

from risk_platform.risk import methods as M
from risk_platform.risk import revaluation
from risk_platform.risk import stress as S
from risk_platform.risk.copula import FactorCopulaModel, VineCopulaModel, fit_vine_copula
from risk_platform.risk.liquidity import liquidity_concentration
from risk_platform.risk.measures import historical_var_es
from risk_platform.risk.options import delta_gamma_vega_pnl
from risk_platform.risk.revaluation import CHUNK_ROWS, BookArrays, growth_from_returns

FACTORS = ["EURUSD", "LQD", "SPX", "USDJPY", "UST10Y", "VIX", "WTI"]


def book_table(rows):
    cols = ["position", "symbol", "kind", "value_usd", "fx_symbol", "fx_sign", "dv01", "delta", "gamma", "vega",
            "theta"]
    frame = pd.DataFrame(rows, columns=cols)
    return frame.drop(columns="position")


@pytest.fixture
def small_book():
    """SPX 1m, UST10Y dv01 5,000, long EUR 2m, long USD vs JPY 1m, WTI 1m, LQD 1m and an SPX put."""
    table = book_table([
        ("SPX", "SPX", "linear", 1e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan),
        ("UST10Y", "UST10Y", "rates_dv01", 1e7, "", 0, 5000.0, np.nan, np.nan, np.nan, np.nan),
        ("EURUSD", "EURUSD", "fx_usd_quote", 2e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan),
        ("USDJPY", "USDJPY", "fx_usd_base", 1e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan),
        ("WTI", "WTI", "linear", 1e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan),
        ("LQD", "LQD", "linear", 1e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan),
        ("SPX option", "SPX", "option", 5e4, "", 0, np.nan, -1e6, 2e7, 5e4, -1000.0),
    ])
    return BookArrays.from_book(table, FACTORS, vix_level=20.0, vol_symbol="VIX")


def test_delta_gamma_vega_by_hand(small_book):
    # SPX -5%, VIX 20 -> 25 (growth 1.25): +5 vol points
    pnl = delta_gamma_vega_pnl(-1e6, 2e7, 5e4, -1000.0, -0.05, 5.0)
    assert_allclose(pnl, 50_000 + 0.5 * 2e7 * 0.0025 + 250_000 - 1000)
    growth = np.ones((1, len(FACTORS)))
    growth[0, FACTORS.index("SPX")] = 0.95
    growth[0, FACTORS.index("VIX")] = 1.25
    by_position = small_book.position_pnl(np.log(growth), growth)[0]
    assert_allclose(by_position[-1], 324_000)
    assert_allclose(by_position[0], -50_000)
    assert_allclose(small_book.total_pnl(np.log(growth), growth), [by_position.sum()])
    # first-order exposures: delta to SPX, vega x VIX level to the VIX log return
    e = small_book.exposures()
    assert_allclose(e[-1, FACTORS.index("SPX")], -1e6)
    assert_allclose(e[-1, FACTORS.index("VIX")], 5e4 * 20.0)


def test_folded_totals_and_mean_position_pnl_match_full_revaluation(small_book):
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.02, (400, len(FACTORS)))
    r[:, FACTORS.index("UST10Y")] *= 300  # bp
    g = np.exp(r)
    g[:, FACTORS.index("UST10Y")] = 1.0
    full = small_book.position_pnl(r, g)
    assert_allclose(small_book.total_pnl(r, g), full.sum(axis=1), rtol=1e-10, atol=1e-6)
    assert_allclose(small_book.mean_position_pnl(r, g), full.mean(axis=0), rtol=1e-10, atol=1e-6)
    assert_allclose(small_book.total_pnl(r.astype(np.float32), g.astype(np.float32)), full.sum(axis=1), atol=5.0)


def test_generated_scenarios_with_large_bp_moves_revalue_without_overflow(small_book):
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.02, (50, len(FACTORS))).astype(np.float32)
    is_bp = np.array([f == "UST10Y" for f in FACTORS])
    r[:, is_bp] = 150.0  # +150 bp: exp(150) overflows float32 if treated as a log return
    with np.errstate(over="raise", invalid="raise"):
        g = growth_from_returns(r, is_bp)
        pnl = small_book.total_pnl_from_returns(r, is_bp)
    assert np.all(g[:, is_bp] == 1.0)
    assert_allclose(pnl, small_book.position_pnl(r.astype(float), g.astype(float)).sum(axis=1), rtol=1e-4, atol=5.0)


FX_FACTORS = ["EURUSD", "N225", "SPX", "SX5E", "USDJPY", "UST10Y", "VIX"]


@pytest.fixture
def fx_book():
    """EUR and JPY equities converted through EURUSD (+1) and USDJPY (-1), an option on the EUR one, USD held
    against JPY, a Treasury by DV01 and a USD equity."""
    table = book_table([
        ("SX5E", "SX5E", "linear", 1e6, "EURUSD", 1, np.nan, np.nan, np.nan, np.nan, np.nan),
        ("N225", "N225", "linear", 2e6, "USDJPY", -1, np.nan, np.nan, np.nan, np.nan, np.nan),
        ("SX5E call", "SX5E", "option", 5e4, "EURUSD", 1, np.nan, 1e6, 4e6, 1e4, -100.0),
        ("USDJPY", "USDJPY", "fx_usd_base", 1e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan),
        ("UST10Y", "UST10Y", "rates_dv01", 1e7, "", 0, 1000.0, np.nan, np.nan, np.nan, np.nan),
        ("SPX", "SPX", "linear", 1e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan),
    ])
    return BookArrays.from_book(table, FX_FACTORS, vix_level=20.0, vol_symbol="VIX")


def test_grouped_revaluation_equals_per_position_revaluation_by_hand(fx_book, monkeypatch):
    # SX5E +10% and EUR +5% against USD; N225 -10% and USDJPY 100 -> 125; VIX 20 -> 25; UST10Y +10 bp; SPX -2%
    move = {"EURUSD": 1.05, "N225": 0.9, "SPX": 0.98, "SX5E": 1.1, "USDJPY": 1.25, "UST10Y": 1.0, "VIX": 1.25}
    g = np.array([[move[f] for f in FX_FACTORS]])
    r = np.log(g)
    r[0, FX_FACTORS.index("UST10Y")] = 10.0
    by_hand = [1e6 * (1.1 * 1.05 - 1),  # 155,000
               2e6 * (0.9 / 1.25 - 1),  # -560,000
               1e6 * 0.155 + 0.5 * 4e6 * 0.155**2 + 1e4 * 20 * 0.25 - 100,  # 252,950
               1e6 * (1 - 1 / 1.25),  # 200,000
               -1000.0 * 10,
               -20_000.0]
    assert_allclose(fx_book.position_pnl(r, g)[0], by_hand)
    assert_allclose(fx_book.total_pnl(r, g), [17_950.0])
    assert_allclose(fx_book.mean_position_pnl(r, g), by_hand)
    # many scenarios: the grouped totals equal the per-position sums, float64 exactly, float32 within its rounding
    monkeypatch.setattr(revaluation, "BLOCK_BYTES", 1)  # blocks of CHUNK_ROWS
    rng = np.random.default_rng(7)
    r = rng.normal(0, 0.03, (4 * CHUNK_ROWS + 100, len(FX_FACTORS)))  # blocks over two threads, a partial one
    is_bp = np.array([f == "UST10Y" for f in FX_FACTORS])
    r[:, is_bp] *= 300
    g = growth_from_returns(r, is_bp)
    full = fx_book.position_pnl(r, g)
    assert_allclose(fx_book.total_pnl(r, g), full.sum(axis=1), rtol=1e-10, atol=1e-6)
    assert_allclose(fx_book.total_pnl_from_returns(r, is_bp), full.sum(axis=1), rtol=1e-10, atol=1e-6)
    assert_allclose(fx_book.total_pnl_from_returns(r.astype(np.float32), is_bp), full.sum(axis=1), atol=2.0)
    assert_allclose(fx_book.mean_position_pnl(r, g), full.mean(axis=0), rtol=1e-10, atol=1e-6)


def test_scenarios_in_another_column_order_revalue_in_place(fx_book):
    """A model's columns in its own order, with a series the book does not hold (a yield: exp would overflow)
    and without EURUSD (no move: EUR converts at 1): the same P&L as the array reordered to the book."""
    rng = np.random.default_rng(8)
    is_bp = np.array([f == "UST10Y" for f in FX_FACTORS])
    symbols = ["UST30Y", "VIX", "SX5E", "UST10Y", "USDJPY", "SPX", "N225"]
    r = rng.normal(0, 0.02, (500, len(symbols))).astype(np.float32)
    r[:, 0] = 150.0
    r[:, 3] *= 300
    columns = np.array([symbols.index(f) if f in symbols else -1 for f in FX_FACTORS])
    in_order = np.where(columns >= 0, r[:, np.maximum(columns, 0)], 0.0)
    with np.errstate(over="raise", invalid="raise"):
        pnl = fx_book.total_pnl_from_returns(r, is_bp, columns)
    assert_allclose(pnl, fx_book.total_pnl_from_returns(in_order.astype(np.float32), is_bp), rtol=1e-6, atol=1.0)
    res, _ = M.monte_carlo_method(fx_book, r, is_bp, "in place", columns=columns)
    assert_allclose(res.var_99, historical_var_es(pnl, 0.99).var)


def test_parametric_two_assets_by_hand():
    e = np.array([[1e6, 0.0], [0.0, -5e5]])
    vols, corr = np.array([0.01, 0.02]), np.array([[1.0, 0.3], [0.3, 1.0]])
    res, contrib = M.parametric_method(e, vols, corr, "hand")
    sigma = np.sqrt(1e4**2 + 1e4**2 + 2 * 0.3 * 1e4 * -1e4)
    assert_allclose(res.sigma, sigma)
    assert_allclose(res.var_99, norm.ppf(0.99) * sigma)
    assert_allclose(res.es_95, sigma * norm.pdf(norm.ppf(0.95)) / 0.05)
    assert_allclose(contrib.sum(), sigma)
    assert_allclose(contrib[0], (1e6 * (1e6 * 1e-4 + 0.3 * 0.01 * 0.02 * -5e5)) / sigma)


def test_fast_tails_match_the_reference_estimator():
    rng = np.random.default_rng(3)
    for pnl in (rng.standard_t(3, 50_000), np.round(rng.normal(size=1000), 1), -np.arange(1.0, 21.0)):
        figures = M._tails(pnl)
        for a in (0.95, 0.99):
            ref = historical_var_es(pnl, a)
            assert_allclose([figures[f"var_{round(a * 100)}"], figures[f"es_{round(a * 100)}"]], [ref.var, ref.es])


def test_filtered_historical_scenarios_by_hand():
    r = np.array([[0.01, 0.0], [0.02, 5.0]])
    observed = np.array([[True, False], [True, True]])
    cond = np.array([[1e-4, np.nan], [4e-4, 25.0]])
    out = M.filtered_historical_scenarios(r, observed, cond, np.array([9e-4, 100.0]))
    assert_allclose(out, [[0.03, 0.0], [0.03, 10.0]])


def test_monte_carlo_revalues_scenarios_through_the_position_formulas(small_book):
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, (20_000, len(FACTORS)))
    is_bp = np.array([f == "UST10Y" for f in FACTORS])
    res, pnl = M.monte_carlo_method(small_book, r, is_bp, "test scenarios")
    g = np.exp(r)
    g[:, is_bp] = 1.0
    assert_allclose(pnl, small_book.position_pnl(r, g).sum(axis=1))
    assert_allclose(res.var_99, historical_var_es(pnl, 0.99).var)
    assert res.n_scenarios == 20_000 and res.bound_by == "test scenarios"


def test_rolling_hs_var_is_the_historical_var_of_the_previous_window():
    pnl = np.random.default_rng(5).standard_t(4, 800)
    var = M.rolling_hs_var(pnl, 250, 0.99)
    assert np.isnan(var[249]) and np.isfinite(var[250])
    for t in (250, 400, 799):
        assert_allclose(var[t], historical_var_es(pnl[t - 250:t], 0.99).var)


def test_regime_calibration_gives_correct_exception_rates_per_regime():
    rng = np.random.default_rng(11)
    n = 4000
    regimes = np.where(np.arange(n) % 400 < 100, "high", np.where(np.arange(n) % 400 < 300, "normal", "low"))
    scale = np.select([regimes == "high", regimes == "low"], [3.0, 0.5], 1.0)
    pnl = rng.standard_t(5, n) * scale
    cal = M.calibrate_regime_blend(pnl, regimes, window=250)
    for a in (0.95, 0.99):
        assert cal.weight[a] in set(M.WEIGHT_GRID.tolist())
        assert min(cal.tick_loss[a].values()) == cal.tick_loss[a][cal.weight[a]]
        for regime in ("low", "normal", "high"):
            assert abs(cal.exception_rate_after[a][regime] - (1 - a)) <= 1.0 / cal.days[regime] + 1e-12
    # probability-weighted factor
    probs = {"low": 0.2, "normal": 0.5, "high": 0.3}
    k = M.regime_factor(cal, 0.99, "normal", probs)
    assert_allclose(k, sum(probs[r] * cal.factor[0.99][r] for r in probs))
    hs = M.MethodResult("historical", 1.0, 2.0, 1.5, 2.5, "hs", "historical")
    pm = M.MethodResult("parametric_ewma", 2.0, 3.0, 2.5, 3.5, "ewma", "parametric")
    blend = M.regime_adjusted_method(hs, pm, cal, "high", None, "calibrated")
    w, k99 = cal.weight[0.99], cal.factor[0.99]["high"]
    assert_allclose(blend.var_99, k99 * (w * 2.0 + (1 - w) * 3.0))


def test_risk_methods_binding_is_the_most_conservative_complete_method():
    a = M.MethodResult("a", 1.0, 5.0, 2.0, 6.0, "A", "historical")
    b = M.MethodResult("b", 2.0, 4.0, 3.0, 5.0, "B", "parametric")
    c = M.MethodResult("c", 9.0, 9.0, 9.0, 9.0, "C", "monte_carlo", complete=False)
    methods = {"a": a, "b": b, "c": c}
    assert M.binding_method(methods, "var_95").name == "b" and M.binding_method(methods, "var_99").name == "a"


def test_vine_copula_mc_var_is_close_to_analytic_for_a_gaussian_case():
    rng = np.random.default_rng(2)
    cov = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]]) * 1e-4
    x = rng.multivariate_normal(np.zeros(3), cov, size=3000)
    model = fit_vine_copula(x, ["A", "B", "C"], families=("gaussian",), trunc_lvl=None)
    scenarios = model.sample(50_000, seed=3)
    e = np.array([1e6, 2e6, 1e6])
    pnl = scenarios @ e
    sample_cov = np.cov(x.T)
    sigma = np.sqrt(e @ sample_cov @ e)
    assert_allclose(historical_var_es(pnl, 0.99).var, norm.ppf(0.99) * sigma, rtol=0.06)
    assert_allclose(historical_var_es(pnl, 0.95).var, norm.ppf(0.95) * sigma, rtol=0.04)


def test_truncated_vine_fits_only_its_trees_and_keeps_a_markov_chains_dependence():
    """A Gaussian Markov chain (each factor 0.8 x the previous plus noise) is conditionally independent beyond the
    first tree: truncated after one tree the vine has one tree of 4 pairs, and its draws still give the
    chain's correlations 0.8**lag between factors that no pair copula links directly."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2000, 5))
    x = np.empty_like(z)
    x[:, 0] = z[:, 0]
    for j in range(1, 5):
        x[:, j] = 0.8 * x[:, j - 1] + 0.6 * z[:, j]
    model = fit_vine_copula(x, list("ABCDE"), families=("gaussian",), trunc_lvl=1)
    assert model.vine.trunc_lvl == 1 and [len(tree) for tree in model.vine.pair_copulas] == [4]
    corr = np.corrcoef(model.sample(20_000, seed=1).T)
    assert_allclose([corr[0, 2], corr[0, 4]], [0.8**2, 0.8**4], atol=0.05)
    assert [len(tree) for tree in fit_vine_copula(x, list("ABCDE"), trunc_lvl=2).vine.pair_copulas] == [4, 3]


@pytest.fixture(scope="module")
def factor_panel():
    """424 days of 80 series driven by 4 Student-t(4) factors of decreasing scale plus Student-t(5) noise."""
    rng = np.random.default_rng(0)
    factors = rng.standard_t(4, (424, 4)) * np.array([3.0, 2.0, 1.5, 1.0])
    return (factors @ rng.normal(0, 1, (80, 4)).T + 1.5 * rng.standard_t(5, (424, 80))) * 1e-3


@pytest.fixture(scope="module")
def factor_copula(factor_panel):
    return fit_vine_copula(factor_panel, [f"S{i}" for i in range(80)], n_factors=4, start="2024-01-02",
                           end="2025-08-29")


def test_factor_copula_keeps_every_empirical_margin(factor_panel, factor_copula):
    """Above the threshold the copula is factor-structured; each series' draws have its empirical distribution:
    at every level p the draws' p-quantile sits at probability p of the empirical margin within 0.025 (the
    margin map is estimated on 16,384 pilot draws: a Kolmogorov-Smirnov error about 0.011 at 95% per series,
    plus 0.006 from the 50,000 draws, over 80 series), never beyond the fitted extremes (float32)."""
    model = factor_copula
    assert isinstance(model, FactorCopulaModel) and model.n_factors == 4 and model.loadings.shape == (80, 4)
    assert "factor-structured" in model.label and "4 PCA factors" in model.label
    draws = model.sample(50_000, seed=3)
    assert draws.shape == (50_000, 80) and draws.dtype == np.float32
    ordered = np.sort(factor_panel, axis=0)
    positions = np.arange(1, 425) / 425
    levels = np.linspace(0.005, 0.995, 199)
    for j in range(80):
        at = np.interp(np.quantile(draws[:, j], levels), ordered[:, j], positions)
        assert np.max(np.abs(at - levels)) < 0.025, j
    eps = 1e-6 * np.abs(ordered).max()
    assert np.all(draws.min(axis=0) >= ordered[0] - eps) and np.all(draws.max(axis=0) <= ordered[-1] + eps)


def test_factor_copula_keeps_the_sample_correlation(factor_panel, factor_copula):
    """Correlations of the draws within 0.08 of the sample's (mean error under 0.025): the residual day-bootstrap
    keeps the residual covariance exactly, the factor vine (Kendall's-tau inversion) gives the PCA scores, exactly
    uncorrelated in the sample, correlations up to about 0.05, the draws' sampling error is about 0.005. The
    unstructured vine truncated after 3 trees misses this 4-factor structure by far (errors up to 0.9)."""
    upper = np.triu_indices(80, 1)
    error = np.abs(np.corrcoef(factor_copula.sample(50_000, seed=3).T) - np.corrcoef(factor_panel.T))[upper]
    assert error.max() < 0.08 and error.mean() < 0.025
    tails = factor_copula.tail_dependence()
    assert tails["statistical_factors"] == 4 and 0.5 < tails["explained_variance"] < 1
    assert tails["first_tree_families"] and tails["tail_pairs"] >= 1
    assert 0 <= tails["tail_coexceedance_model_median"] <= tails["tail_coexceedance_model_max"] <= 1


def test_factor_copula_is_deterministic_given_the_seed(factor_copula):
    a, b = factor_copula.sample(2_000, seed=5), factor_copula.sample(2_000, seed=5)
    assert np.array_equal(a, b) and not np.array_equal(a, factor_copula.sample(2_000, seed=6))


def test_below_the_threshold_the_copula_is_todays_vine():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 6)) @ rng.normal(0, 1, (6, 6)) * 1e-2
    names = list("ABCDEF")
    vine = fit_vine_copula(x, names, structured_above=6)
    reference = fit_vine_copula(x, names, structured_above=None)
    assert isinstance(vine, VineCopulaModel) and vine.label == reference.label
    assert np.array_equal(vine.sample(1_000, seed=2), reference.sample(1_000, seed=2))
    assert isinstance(fit_vine_copula(x, names, structured_above=5, n_factors=2), FactorCopulaModel)


# ---------------------------------------------------------------------------------------------- stress


def test_hypothetical_shocks_by_hand(small_book, instruments):
    inst = instruments.set_index("symbol")
    moves = S.hypothetical_moves(small_book.factors, inst, {"LQD"}, {"LQD": -5e-4})
    classes = np.array(["equity", "rates", "fx", "fx", "commodity", "credit", "equity"])
    results = {r.name: r for r in S.hypothetical_stress(small_book, moves, classes, 1e8)}
    theta = -1000.0
    eq = results["equities -20%"]
    assert_allclose(eq.pnl_by_position["SPX"], -2e5)
    assert_allclose(eq.pnl_by_position["SPX option"], -1e6 * -0.2 + 0.5 * 2e7 * 0.04 + theta)
    rates = results["rates +200bp parallel"].pnl_by_position
    assert_allclose(rates["UST10Y"], -5000 * 200)
    assert_allclose(rates["LQD"], 1e6 * (np.exp(-5e-4 * 200) - 1))
    usd = results["USD +10%"].pnl_by_position
    assert_allclose([usd["EURUSD"], usd["USDJPY"], usd["SPX"]], [2e6 * (1 / 1.1 - 1), 1e6 * (1 - 1 / 1.1), 0.0])
    assert_allclose(results["oil -50%"].pnl_by_position["WTI"], -5e5)
    credit = results["credit ETFs -10%"]
    assert_allclose(credit.pnl_by_position["LQD"], -1e5)
    assert_allclose(credit.pnl_by_asset_class["credit"], -1e5)
    assert_allclose(credit.pnl, -1e5 + theta)
    assert_allclose(credit.pnl_pct_nav, 100 * (-1e5 + theta) / 1e8)


def test_replay_worst_day_ten_day_and_full_window_by_hand():
    table = book_table([("SPX", "SPX", "linear", 1e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan)])
    book = BookArrays.from_book(table, ["SPX"])
    growth = np.array([1.01, 0.97, 1.0, 0.99, 0.98, 1.0, 1.0, 0.99, 1.0, 1.0, 1.0, 1.05])[:, None]
    dates = pd.bdate_range("2020-03-02", periods=len(growth))
    out = S.replay_window(book, "w", dates, np.log(growth), growth, np.array([False]), np.array(["equity"]), 1e8)
    one, ten, full = out
    assert_allclose(one.pnl, -3e4)
    assert one.details["date"] == "2020-03-03"
    ten_day = [np.prod(growth[i:i + 10]) for i in range(len(growth) - 9)]
    assert_allclose(ten.pnl, 1e6 * (min(ten_day) - 1))
    assert_allclose(full.pnl, 1e6 * (np.prod(growth) - 1))


def _moves(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random daily returns and growth over FACTORS (UST10Y in bp)."""
    r = np.random.default_rng(seed).normal(0, 0.02, (n, len(FACTORS)))
    r[:, FACTORS.index("UST10Y")] *= 300
    g = np.exp(r)
    g[:, FACTORS.index("UST10Y")] = 1.0
    return r, g


def test_unique_rows_matches_numpy_unique_by_rows():
    keys = np.random.default_rng(9).integers(-1, 6, (500, 4))
    keys[:, 3] = np.sign(keys[:, 3] - 3)
    uniq, inverse = revaluation.unique_rows(keys)
    ref, ref_inverse = np.unique(keys, axis=0, return_inverse=True)
    assert_allclose(uniq, ref)
    assert_allclose(inverse, ref_inverse.ravel())
    assert_allclose(uniq[inverse], keys)
    assert revaluation.unique_rows(keys[:0])[0].shape == (0, 4)


def test_scenario_position_pnl_matches_per_position_revaluation_with_each_horizon(small_book):
    r, g = _moves(5, 4)
    days = np.array([1.0, 14.0, 3.0, 40.0])
    expected = np.stack([small_book.with_horizon(d).position_pnl(r[i:i + 1], g[i:i + 1])[0]
                         for i, d in enumerate(days)])
    assert_allclose(small_book.scenario_position_pnl(r, g, days), expected, rtol=1e-12, atol=1e-6)
    assert_allclose(small_book.scenario_position_pnl(r, g)[1], small_book.position_pnl(r[1:2], g[1:2])[0],
                    rtol=1e-12, atol=1e-6)


def test_stacked_replays_match_each_window_revalued_position_by_position(small_book):
    """All windows in one pass (:func:`replay_windows`) against the per-window computation by full per-position
    revaluation: worst day, worst 10 consecutive days (growth multiplied, bp added), full window, theta over the
    calendar span; a window shorter than 10 days has no 10-day replay."""
    is_bp = np.array([f == "UST10Y" for f in FACTORS])
    windows = [("a", pd.bdate_range("2008-09-15", periods=30), *_moves(6, 30)),
               ("b", pd.bdate_range("2020-02-20", periods=7), *_moves(7, 7)),
               ("c", pd.bdate_range("2022-01-03", periods=12), *_moves(8, 12))]
    moves = S.ReplayMoves.of([w[0] for w in windows], [w[1] for w in windows], [w[2] for w in windows],
                             [w[3] for w in windows], is_bp)
    classes = np.array(["equity", "rates", "fx", "fx", "commodity", "credit", "equity"])
    got = {res.name: res for res in S.replay_windows(small_book, moves, classes, 1e8, [["LQD"], None, None])}
    expected = {}
    for name, dates, r, g in windows:
        day = small_book.position_pnl(r, g)
        i = int(np.argmin(day.sum(axis=1)))
        expected[f"{name}: worst 1-day"] = day[i]
        if len(dates) >= 10:
            runs = [(r[j:j + 10].sum(axis=0), np.where(is_bp, 1.0, np.prod(g[j:j + 10], axis=0)), j)
                    for j in range(len(dates) - 9)]
            totals = [small_book.total_pnl(a[None], b[None])[0] for a, b, _ in runs]
            a, b, j = runs[int(np.argmin(totals))]
            span = small_book.with_horizon((dates[j + 9] - dates[j]).days + 1)
            expected[f"{name}: worst 10-day"] = span.position_pnl(a[None], b[None])[0]
        span = small_book.with_horizon((dates[-1] - dates[0]).days + 1)
        full = span.position_pnl(r.sum(axis=0)[None], np.where(is_bp, 1.0, np.prod(g, axis=0))[None])[0]
        expected[f"{name}: full window"] = full
    assert list(got) == list(expected) and "b: worst 10-day" not in got
    for name, by_position in expected.items():
        assert_allclose(list(got[name].pnl_by_position.values()), by_position, rtol=1e-9, atol=1e-6)
        assert_allclose(got[name].pnl, by_position.sum(), rtol=1e-9, atol=1e-6)
    assert got["a: full window"].details["factors_without_data"] == ["LQD"]
    assert "factors_without_data" not in got["b: full window"].details
    # one window alone gives the same as within the stack
    alone = S.replay_window(small_book, "c", *windows[2][1:], is_bp, classes, 1e8)
    assert [res.pnl for res in alone] == [got[res.name].pnl for res in alone]


def test_generated_stress_keeps_the_worst_one_percent():
    table = book_table([("SPX", "SPX", "linear", 1e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan)])
    book = BookArrays.from_book(table, ["SPX"])
    r = np.random.default_rng(4).normal(0, 0.02, (5000, 1))
    res = S.generated_stress(book, r, np.array([False]), "gen", "gan v1 (current)", np.array(["equity"]), 1e8)
    pnl = 1e6 * (np.exp(r[:, 0]) - 1)
    worst = np.sort(pnl)[:50]
    assert res.scenarios.shape == (50, 1) and res.details["n_tail"] == 50
    assert_allclose(res.pnl, worst.mean())
    assert_allclose(res.details["worst_pnl"], worst[0])
    assert_allclose(1e6 * (np.exp(res.scenarios[:, 0]) - 1), worst)


def test_inverted_hedges_from_the_repaired_absolute_matrix_match_the_eigendecomposition():
    """The shortcut ``S nearest(|rho|) S`` (every exposure non-zero) against flipping and repairing directly; a zero
    exposure falls back to the direct computation."""
    rng = np.random.default_rng(0)
    u = rng.uniform(-0.95, 0.95, (8, 8))
    crisis = S.nearest_correlation((u + u.T) / 2)
    exposure = rng.normal(size=8) * 1e6
    flipped = np.where(np.outer(exposure, exposure) * crisis < 0, -crisis, crisis)
    np.fill_diagonal(flipped, 1.0)
    assert np.linalg.eigvalsh(flipped).min() < -0.1  # the repair clips eigenvalues
    repaired_abs = S.nearest_correlation(np.abs(crisis))
    direct = S.inverted_hedges(exposure, crisis)
    assert np.linalg.eigvalsh(direct).min() > -1e-10 and not np.allclose(direct, flipped)
    assert_allclose(S.inverted_hedges(exposure, crisis, repaired_abs), direct, atol=1e-12)
    exposure[3] = 0.0
    assert_allclose(S.inverted_hedges(exposure, crisis, repaired_abs), S.inverted_hedges(exposure, crisis))


def test_counterfactual_correlation_inverts_hedges():
    table = book_table([("SPX", "SPX", "linear", 1e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan),
                        ("TLT", "TLT", "linear", 1e6, "", 0, np.nan, np.nan, np.nan, np.nan, np.nan)])
    book = BookArrays.from_book(table, ["SPX", "TLT"])
    vols = np.array([0.01, 0.01])
    now = np.array([[1.0, -0.5], [-0.5, 1.0]])
    crisis = np.array([[1.0, -0.2], [-0.2, 1.0]])
    res = S.counterfactual_correlation(book, vols, now, crisis, np.array(["equity", "rates"]), 1e8)
    z = norm.ppf(0.99)
    d = res.details
    assert_allclose(d["var_99_now"], z * 1e4 * np.sqrt(2 - 1.0))
    assert_allclose(d["var_99_crisis_correlation"], z * 1e4 * np.sqrt(2 - 0.4))
    assert_allclose(d["var_99_crisis_hedges_inverted"], z * 1e4 * np.sqrt(2 + 0.4), rtol=1e-6)
    assert_allclose(res.pnl, -d["var_99_crisis_hedges_inverted"], rtol=1e-6)
    assert "rises" in d["statement"]
    fixed = S.nearest_correlation(np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]))
    assert np.linalg.eigvalsh(fixed).min() > -1e-10
    assert_allclose(np.diag(fixed), 1.0)


# -------------------------------------------------------------------------------------------- liquidity


def test_liquidity_and_concentration_by_hand():
    liq = liquidity_concentration(["A", "B", "C"], np.array([1e8, -1e6, 4e7]), np.array([1e8, 1e9, 1e9]),
                                  np.array([10.0, 2.0, 0.0]), np.array(["equity", "fx", "equity"]),
                                  np.array(["tech", "G10", "banks"]), np.array(["US", "EU", "US"]), 2e8, 1e6, 2e6)
    assert_allclose(liq.days_to_liquidate["A"], 5.0)  # 1e8 / (0.2 * 1e8)
    assert_allclose(liq.days_to_liquidate["B"], 0.005)
    assert liq.days_to_liquidate_portfolio == 5.0 and liq.slowest_position == "A"
    gross = 1e8 + 1e6 + 4e7
    assert_allclose(liq.liquidity_score, (1e8 * 0.2 + 1e6 + 4e7) / gross)
    cost = 0.5 * 10e-4 * 1e8 + 0.5 * 2e-4 * 1e6
    assert_allclose([liq.spread_cost, liq.lvar_99], [cost, 2e6 + cost])
    assert_allclose(liq.largest_position_pct, 50.0)
    assert liq.largest_position == "A"
    assert_allclose(liq.herfindahl_index, ((np.array([1e8, 1e6, 4e7]) / gross) ** 2).sum())
    assert_allclose(liq.asset_class_concentration["equity"], 100 * 1.4e8 / gross)
    assert_allclose(liq.region_concentration["EU"], 100 * 1e6 / gross)
    assert set(liq.sector_concentration) == {"tech", "G10", "banks"}


def test_fhs_floors_the_volatility_of_a_series_coming_off_a_peg():
    r = np.array([[1e-6], [0.01]])
    out = M.filtered_historical_scenarios(r, np.ones((2, 1), bool), np.array([[1e-16], [1e-4]]), np.array([1e-4]))
    floor_var = M.FHS_VOL_FLOOR**2 * (1e-12 + 1e-4) / 2
    assert_allclose(out[:, 0], [1e-6 * np.sqrt(1e-4 / floor_var), 0.01])


def test_conditional_evt_method_matches_a_hand_computation_with_gpd_var_es():
    """EWMA(0.94) by hand (seeded on the first 20 squared P&L values), each loss over the volatility known the day
    before, a GPD above the 90% quantile of those, times today's volatility for tomorrow."""
    from risk_platform.risk.measures import fit_gpd, gpd_var_es

    pnl = np.random.default_rng(11).standard_t(4, 300) * 1e5
    s2 = np.full(len(pnl), np.nan)
    s2[19] = np.mean(pnl[:20] ** 2)
    for t in range(20, len(pnl)):
        s2[t] = 0.94 * s2[t - 1] + 0.06 * pnl[t] ** 2
    z = -pnl[20:] / np.sqrt(s2[19:-1])  # day t over the forecast made at t - 1
    u = np.quantile(z, 0.90)
    above = z[z > u] - u
    xi, beta = fit_gpd(above)
    res = M.conditional_evt_method(pnl, "hand")
    for a, var_key, es_key in ((0.95, "var_95", "es_95"), (0.99, "var_99", "es_99")):
        var_z, es_z = gpd_var_es(u, xi, beta, len(above) / len(z), a)
        assert res.figure(var_key) == pytest.approx(np.sqrt(s2[-1]) * var_z, rel=1e-8), var_key
        assert res.figure(es_key) == pytest.approx(np.sqrt(s2[-1]) * es_z, rel=1e-8), es_key
    assert res.kind == "conditional_evt" and res.n_scenarios == len(z) == 280 and res.details["exceedances"] == 28
    assert 0 < res.var_95 < res.var_99 < res.es_99


def test_conditional_evt_method_refuses_a_tail_without_a_finite_es():
    """A P&L whose standardised losses have a GPD shape of 1 or more has no finite ES: an error, never a figure."""
    from risk_platform.errors import ComputationError

    pnl = np.random.default_rng(0).normal(size=400)
    shocks = np.arange(60, 400, 30)
    pnl[shocks] = -np.geomspace(10, 1e12, len(shocks))  # ever larger losses, each far beyond the last: xi ~ 2.4
    with pytest.raises(ComputationError, match="its ES is infinite"):
        M.conditional_evt_method(pnl, "x")


def test_pairwise_correlation_matches_pandas_on_pairwise_complete_days():
    rng = np.random.default_rng(11)
    x = rng.standard_t(4, (300, 6)) @ rng.normal(size=(6, 6))
    observed = rng.random((300, 6)) > 0.2
    observed[:, 5] = np.arange(300) < 15  # too few common days with anyone: 0
    x[:, 4] = np.where(observed[:, 4], 0.5, x[:, 4])  # no variance: 0
    expected = pd.DataFrame(np.where(observed, x, np.nan)).corr(min_periods=20).fillna(0.0).to_numpy(copy=True)
    np.fill_diagonal(expected, 1.0)
    assert_allclose(S.pairwise_correlation(x, observed, 20), expected, atol=1e-12)
