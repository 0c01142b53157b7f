"""The full risk report on the bundled sample book: every DESIGN.md field, every method, model inputs, stress."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from risk_platform import paths
from risk_platform.crisis_windows import WINDOW_KEYS
from risk_platform.data.quality import accepted_panel, apply_gate, completeness_table
from risk_platform.features.returns import compute_returns
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.engine import compute_portfolio_risk
from risk_platform.risk.market import prepare_market
from risk_platform.risk.report import ModelInputs, ScenarioSet

DESIGN_FIELDS = ("var_95", "var_99", "cvar_95", "es_99", "portfolio_volatility", "vol_contribution",
                 "largest_position_pct", "herfindahl_index", "sector_concentration", "liquidity_score",
                 "days_to_liquidate_portfolio", "stress_test_results", "current_regime", "regime_probability",
                 "bound_by")
CONFIG = RiskConfig(mc_scenarios=5000)


@pytest.fixture(scope="module")
def setting(raw, instruments, suite):
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    panel = accepted_panel(raw.frame, instruments, decision)
    returns = compute_returns(panel, instruments).frame
    market = prepare_market(panel, returns, instruments)
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)
    return panel, returns, market, book


@pytest.fixture(scope="module")
def report(setting, instruments):
    panel, returns, market, book = setting
    return compute_portfolio_risk(book, panel, returns, instruments, config=CONFIG, market=market)


def test_every_design_field_with_what_bound_it(report):
    out = json.loads(json.dumps(report.to_dict()))  # JSON-ready
    for key in DESIGN_FIELDS:
        assert key in out and out[key] is not None, key
    for key in ("var_95", "var_99", "cvar_95", "es_99", "portfolio_volatility", "liquidity_score",
                "days_to_liquidate_portfolio", "current_regime", "regime_probability", "herfindahl_index"):
        assert key in report.bound_by, key
    assert report.current_regime in ("low", "normal", "high")
    assert_allclose(sum(report.regime_probability.values()), 1.0)
    assert_allclose(sum(report.sector_concentration.values()), 100.0)
    assert_allclose(sum(report.asset_class_concentration.values()), 100.0)
    assert 0 < report.liquidity_score <= 1 and 0 < report.days_to_liquidate_portfolio < 1
    assert report.liquidity["lvar_99"] > report.var_99
    assert report.coverage_pct_gross == pytest.approx(100.0)
    assert "no model inputs" in " ".join(report.notes)


def test_every_non_model_method_side_by_side(report):
    methods = report.methods
    assert {"historical", "parametric_ewma", "filtered_historical", "vine_copula", "regime_adjusted"} <= set(methods)
    for m in methods.values():
        assert 0 < m["var_95"] < m["var_99"] <= m["es_99"] and m["es_95"] > m["var_95"], m["name"]
        assert m["bound_by"]
    assert methods["vine_copula"]["n_scenarios"] == 5000
    assert methods["parametric_ewma"]["lambda"] == 0.94
    # every method within a factor 2 of historical simulation on a diversified book
    for m in methods.values():
        assert 0.5 < m["var_99"] / methods["historical"]["var_99"] < 2.0, m["name"]
    cal = report.regime_calibration
    assert cal["start"] < cal["end"] and set(cal["factor"]["0.99"]) == {"low", "normal", "high"}


def test_stress_suite_replays_every_window_and_the_hypothetical_shocks(report):
    stress = report.stress_test_results
    for window in WINDOW_KEYS:
        for kind in ("worst 1-day", "worst 10-day", "full window"):
            assert f"{window}: {kind}" in stress
    for shock in ("rates +200bp parallel", "equities -20%", "USD +10%", "oil -50%", "credit ETFs -10%"):
        assert stress[shock]["kind"] == "hypothetical"
    for res in stress.values():
        assert_allclose(sum(res["pnl_by_position"].values()), res["pnl"], rtol=1e-9, atol=1e-3)
        assert_allclose(sum(res["pnl_by_asset_class"].values()), res["pnl"], rtol=1e-9, atol=1e-3)
    assert stress["gfc_2008: worst 10-day"]["pnl"] < stress["gfc_2008: worst 1-day"]["pnl"] < 0
    assert stress["equities -20%"]["pnl_by_position"]["SPX"] == pytest.approx(-0.2 * 120e6)
    assert stress["equities -20%"]["pnl_by_position"]["SPX option"] > 0  # the put hedges
    gen = stress["generated stress: high-regime bootstrap"]
    assert gen["n_scenarios_kept"] == 50 and gen["details"]["n_tail"] == 50
    cf = stress["counterfactual correlation"]["details"]
    assert "if correlations move to crisis levels" in cf["statement"]
    assert cf["var_99_crisis_hedges_inverted"] > cf["var_99_now"] and cf["confidence"] == 0.99


def test_stress_results_run_worst_first_with_the_counterfactual_var_apart(report):
    kinds = [s["kind"] for s in report.stress_test_results.values()]
    assert kinds[-1] == "counterfactual_correlation" and kinds.count("counterfactual_correlation") == 1
    losses = report.stress_losses()
    assert [s["pnl"] for s in losses] == sorted(s["pnl"] for s in losses)  # largest loss first
    assert len(losses) == len(kinds) - 1 and report.counterfactual_var()["name"] == "counterfactual correlation"
    lines = report.stress_lines()
    worst = losses[0]
    assert lines[1].split() == [*worst["name"].split(), f"{-worst['pnl']:,.0f}", f"{-worst['pnl_pct_nav']:.2f}%"]
    assert lines[-2].startswith("  counterfactual correlation (a VaR, not a stress P&L): VaR 99% 1-day USD ")


def test_summary_states_the_conventions_once_and_groups_what_bound_the_figures(report):
    lines = report.summary().splitlines()
    assert lines[0].endswith("figures 1-day horizon, USD, losses positive")
    assert sum("losses positive" in line for line in lines) == 2  # the top line and the stress section
    assert lines[2] == "  " + report.headline()
    grouped = [line for line in lines if "bound by" in line and line.startswith("  var_")]
    assert grouped == [f"  var_95, var_99, cvar_95, es_99, es_95 bound by {report.bound_by['var_99']}"]
    assert not any(line.startswith("  bound_by ") for line in lines)


def test_headline_in_units_with_percent_of_nav_limit_and_binding(report):
    method = report.bound_by["var_99"].split(": ")[0]
    pct = 100 * report.var_99 / report.nav
    assert report.headline() == (f"VaR 99% 1-day USD {report.var_99 / 1e6:.3g}m, {pct:.2f}% of NAV,"
                                 f" bound by {method.replace('_', ' ')}")
    assert ", 62% of limit, bound by " in report.headline(limit_utilisation=0.62)
    rich = replace(report, var_99=6_190_471.0, nav=500e6, bound_by={"var_99": "monte_carlo_gan[current]: gan v3"})
    assert rich.headline(0.619) == "VaR 99% 1-day USD 6.19m, 1.24% of NAV, 62% of limit, bound by monte carlo gan" \
        " (current)"


def test_model_inputs_add_methods_bound_by_their_versions(setting, instruments, report):
    panel, returns, market, book = setting
    symbols = market.symbols
    k = len(symbols)
    rng = np.random.default_rng(0)
    vols = np.sqrt(np.nan_to_num(market.next_var, nan=1e-4))
    scen = (rng.standard_normal((20_000, k)) * vols).astype(np.float32)
    inputs = ModelInputs(label="current", symbols=symbols, vols=vols * 2, correlation=np.eye(k),
                         scenarios={"gan": scen, "vae": ScenarioSet(symbols[1:], scen[:, 1:], "vae")},  # misses one
                         stress_scenarios={"gan": 3 * scen},
                         regime_probability={"low": 0.0, "normal": 0.0, "high": 1.0},
                         versions={"vols": "lstm_vol v7", "correlation": "gnn_corr v2", "gan": "gan_scenarios v3",
                                   "vae": "vae_scenarios v1", "regime": "lstm_vol v7"})
    copula = ScenarioSet(symbols, scen, "vine copula (precomputed)")
    risk = compute_portfolio_risk(book, panel, returns, instruments, config=CONFIG, market=market,
                                  model_inputs=inputs, copula=copula)
    m = risk.methods
    assert "lstm_vol v7 (current)" in m["parametric[current]"]["bound_by"]
    assert "gnn_corr v2 (current)" in m["parametric[current]"]["bound_by"]
    assert m["monte_carlo_gan[current]"]["bound_by"] == "gan_scenarios v3 (current)"
    assert m["monte_carlo_gan[current]"]["n_scenarios"] == 20_000
    dropped = symbols[0]
    assert not m["monte_carlo_vae[current]"]["complete"]
    assert m["monte_carlo_vae[current]"]["factors_missing_no_move"] == [dropped]
    assert m["vine_copula"]["bound_by"] == "vine copula (precomputed)"
    assert_allclose(m["vine_copula"]["var_99"], m["monte_carlo_gan[current]"]["var_99"])
    # regime probabilities from the model: the high-regime factor applies
    cal = risk.regime_calibration
    w, k99 = cal["weight"]["0.99"], cal["factor"]["0.99"]["high"]
    assert_allclose(m["regime_adjusted[current]"]["var_99"],
                    k99 * (w * m["historical"]["var_99"] + (1 - w) * m["parametric_ewma"]["var_99"]))
    assert risk.current_regime == "high" and risk.bound_by["regime_probability"] == "lstm_vol v7 (current)"
    assert "generated stress: gan [current]" in risk.stress_test_results
    assert "generated stress: high-regime bootstrap" not in risk.stress_test_results
    # the headline binds to the largest complete method and names it
    binding = risk.bound_by["var_99"].split(":")[0]
    assert m[binding]["complete"] and risk.var_99 == max(x["var_99"] for x in m.values() if x["complete"])
    assert "lstm_vol v7 (current)" in risk.model_versions
    assert m["parametric[current]"]["sigma"] > 0
    # the non-model methods are unchanged by model inputs
    assert_allclose(m["historical"]["var_99"], report.methods["historical"]["var_99"])


def test_model_vols_and_correlations_with_gaps_fall_back_to_ewma(setting, instruments, report):
    panel, returns, market, book = setting
    symbols = market.symbols
    k = len(symbols)
    vols = np.full(k, np.nan)  # the model gives nothing usable: EWMA everywhere
    corr = np.full((k, k), np.nan)
    inputs = ModelInputs(label="stable", symbols=symbols, vols=vols, correlation=corr)
    risk = compute_portfolio_risk(book, panel, returns, instruments, config=RiskConfig(fit_copula=False),
                                  market=market, model_inputs=inputs, stress=False)
    m = risk.methods["parametric[stable]"]
    assert_allclose(m["var_99"], report.methods["parametric_ewma"]["var_99"], rtol=1e-6)
    assert "EWMA for" in m["bound_by"] and m["factors_from_ewma"]


def test_a_model_trained_long_before_the_asof_date_is_flagged_warn_with_its_age(setting, instruments):
    from risk_platform.alerts import MODEL_AGE, model_age_results

    panel, returns, market, book = setting
    k = len(market.symbols)
    vols = np.sqrt(np.nan_to_num(market.next_var, nan=1e-4))
    asof = f"{market.asof:%Y-%m-%d}"
    recent = f"{market.asof - pd.Timedelta(days=30):%Y-%m-%d}"
    inputs = [ModelInputs(label=label, symbols=market.symbols, vols=vols, correlation=np.eye(k),
                          versions={"vols": "lstm_vol v2", "correlation": "gnn_corr v1", "regime": "lstm_vol v2"},
                          trained_through={"lstm_vol v2": "2019-12-31", "gnn_corr v1": recent})
              for label in ("current", "experimental")]
    config = RiskConfig(fit_copula=False, mc_scenarios=2000, max_model_age_days=90)
    risk = compute_portfolio_risk(book, panel, returns, instruments, config=config, market=market,
                                  model_inputs=inputs, stress=False)
    age = (market.asof - pd.Timestamp("2019-12-31")).days
    assert [f["model"] for f in risk.model_age_flags] == ["lstm_vol v2"]  # gnn_corr v1: 30 days, within 90
    flag = risk.model_age_flags[0]
    assert flag["aliases"] == ["current", "experimental"] and flag["age_days"] == age and flag["limit_days"] == 90
    line = (f"  WARN MODEL AGE lstm_vol v2 (current, experimental): training data end 2019-12-31, {age} days"
            f" before the as-of date {asof} (limit 90)")
    assert line in risk.summary().splitlines()
    [result] = model_age_results(risk.to_dict())
    assert (result.limit, result.status, result.severity, result.figure) == (MODEL_AGE, "warn", "warn", float(age))
    # the limit is configurable: a longer one clears the flag; an unrecorded training end is flagged
    lenient = compute_portfolio_risk(book, panel, returns, instruments, market=market, stress=False,
                                     config=replace(config, max_model_age_days=age), model_inputs=inputs)
    assert lenient.model_age_flags == [] and model_age_results(lenient.to_dict())[0].status == "ok"
    unknown = replace(inputs[0], trained_through={"gnn_corr v1": recent})
    flags = compute_portfolio_risk(book, panel, returns, instruments, config=config, market=market, stress=False,
                                   model_inputs=unknown).model_age_flags
    assert [(f["model"], f["age_days"]) for f in flags] == [("lstm_vol v2", None)]
    assert "the end of its training data is not recorded" in flags[0]["statement"]
    no_models = compute_portfolio_risk(book, panel, returns, instruments, config=config, market=market, stress=False)
    assert no_models.model_age_flags == [] and model_age_results(no_models.to_dict()) == []


def test_conditional_evt_sits_beside_filtered_hs_on_the_historical_days_and_the_headline_rule_holds(report):
    """Conditional EVT on the P&L days of historical simulation, listed right after filtered HS; it binds a
    headline figure only when it is the most conservative method, as every method."""
    names = list(report.methods)
    assert names[names.index("filtered_historical") + 1] == "conditional_evt"
    evt, hs = report.methods["conditional_evt"], report.methods["historical"]
    assert evt["kind"] == "conditional_evt" and evt["threshold_quantile"] == 0.90 and evt["lambda"] == 0.94
    assert f"{hs['window_start']}..{hs['window_end']}" in evt["bound_by"]
    assert evt["n_scenarios"] == hs["n_scenarios"] - 20  # the EWMA's 20-day seed has no forecast before it
    assert 0 < evt["var_95"] < evt["var_99"] < evt["es_99"] and evt["gpd_shape"] < 1
    for key, figure in (("var_99", "var_99"), ("es_99", "es_99")):
        top = max((m for m in report.methods.values() if m["complete"]), key=lambda m: m[figure])
        assert getattr(report, key) == top[figure] and report.bound_by[key].startswith(top["name"] + ":")


def test_the_copula_is_factor_structured_above_its_threshold(setting, instruments):
    """The engine fits the factor-structured copula when the book has more factors than
    ``copula_structured_above``, with ``copula_factors`` statistical factors; its VaR stays near historical's."""
    panel, returns, market, book = setting
    config = replace(CONFIG, mc_scenarios=2000, copula_structured_above=8, copula_factors=3)
    methods = compute_portfolio_risk(book, panel, returns, instruments, config=config, market=market,
                                     stress=False).methods
    copula = methods["vine_copula"]
    assert "factor-structured" in copula["bound_by"] and "3 PCA factors" in copula["bound_by"]
    assert copula["statistical_factors"] == 3 and copula["n_scenarios"] == 2000
    assert 0.5 < copula["var_99"] / methods["historical"]["var_99"] < 2.0
