"""Returns by quote type and point-in-time features, against hand and numpy/pandas values."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from risk_platform.data.quality import accepted_panel, apply_gate, completeness_table
from risk_platform.ewma import ewma_variance
from risk_platform.features.engineering import drawdown, realized_vol, series_features
from risk_platform.features.returns import compute_returns
from risk_platform.models.datasets import market_regime
from risk_platform.regime import RegimeRule


def panel_of(rows):
    return pd.DataFrame(rows, columns=["date", "symbol", "value"]).assign(date=lambda f: pd.to_datetime(f["date"]))


def test_returns_by_quote_type(instruments):
    panel = panel_of([
        ("2024-01-02", "SPX", 100.0), ("2024-01-03", "SPX", 101.0),
        ("2024-01-02", "UST10Y", 3.95), ("2024-01-03", "UST10Y", 4.02),
        ("2024-01-02", "USDJPY", 141.0), ("2024-01-03", "USDJPY", 143.0),
    ])
    r = compute_returns(panel, instruments).frame.set_index("symbol")
    assert_allclose(r.at["SPX", "ret"], np.log(101 / 100))
    assert r.at["SPX", "method"] == "log"
    assert_allclose(r.at["UST10Y", "ret"], 7.0)  # basis points
    assert r.at["UST10Y", "method"] == "bp"
    assert_allclose(r.at["USDJPY", "ret"], np.log(143 / 141))


def test_wti_negative_price_uses_the_documented_fallback(raw, instruments, suite):
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    result = compute_returns(accepted_panel(raw.frame, instruments, decision), instruments)
    wti = result.frame[result.frame["symbol"] == "WTI"].set_index("date")
    assert_allclose(wti.at[pd.Timestamp("2020-04-20"), "ret"], (-36.98 - 18.31) / 18.31)
    assert_allclose(wti.at[pd.Timestamp("2020-04-21"), "ret"], (8.91 + 36.98) / 36.98)
    assert list(result.fallbacks["method"]) == ["arith_fallback", "arith_fallback"]
    assert result.frame["ret"].notna().all()
    assert wti.at[pd.Timestamp("2020-04-22"), "method"] == "log"


def test_zero_base_price_is_flagged_not_silent(instruments):
    panel = panel_of([("2024-01-02", "WTI", 1.0), ("2024-01-03", "WTI", 0.0), ("2024-01-04", "WTI", 2.0)])
    result = compute_returns(panel, instruments)
    assert list(result.fallbacks["method"]) == ["arith_fallback", "undefined_zero_base"]
    assert_allclose(result.frame["ret"].iloc[0], -1.0)


def test_ewma_variance_matches_the_recursion():
    r = np.random.default_rng(0).normal(0, 0.01, 300)
    got = ewma_variance(r, lam=0.94, warmup=20)
    s2 = np.mean(r[:20] ** 2)
    expected = [np.nan] * 19 + [s2]
    for x in r[20:]:
        s2 = 0.94 * s2 + 0.06 * x**2
        expected.append(s2)
    assert_allclose(got, expected, rtol=1e-12)


def test_realized_vol_and_drawdown_by_hand():
    r = pd.Series([0.01, -0.02, 0.03, 0.0])
    assert_allclose(realized_vol(r, 3).iloc[2], np.sqrt((0.0001 + 0.0004 + 0.0009) / 3))
    assert np.isnan(realized_vol(r, 3).iloc[1])
    prices = pd.Series([100.0, 110.0, 99.0, 120.0])
    assert_allclose(drawdown(prices, "price"), [0, 0, 99 / 110 - 1, 0])
    yields = pd.Series([4.0, 3.5, 3.9, 3.2])
    assert_allclose(drawdown(yields, "yield_pct"), [0, 0, -40.0, 0])


def test_regime_rule_labels():
    rule = RegimeRule(min_history=3, low_below=0.25, high_above=0.85)
    labels = rule.label(np.array([np.nan, 0.1, 0.5, 0.9]))
    assert list(labels) == ["unknown", "low", "normal", "high"]


def test_market_regime_keeps_a_closed_venues_last_rank():
    dates = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
    daily = pd.DataFrame({"date": dates[[0, 0, 0, 1, 1, 1, 2, 2]], "symbol": list("ABCABCAB"),
                          "vol_rank": [np.nan, np.nan, np.nan, 0.1, 0.2, 0.95, 0.5, 0.9]})
    # C is closed on the 4th: its 0.95 still votes, median(0.5, 0.9, 0.95) = 0.9 (not median(0.5, 0.9) = 0.7)
    assert list(market_regime(daily)) == ["unknown", "low", "high"]
    assert list(market_regime(daily).index) == list(dates)


def test_vol_rank_is_the_expanding_rank_of_ewma_vol(daily_features):
    spx = daily_features[daily_features["symbol"] == "SPX"]
    expected = spx["ewma_vol"].reset_index(drop=True).expanding(min_periods=252).rank(pct=True)
    assert_allclose(spx["vol_rank"].to_numpy(), expected.to_numpy())


def test_features_are_point_in_time(raw, instruments, suite):
    """A feature dated t computed on the full history equals the one computed with data up to t only."""
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    panel = accepted_panel(raw.frame, instruments, decision)
    panel = panel[panel["symbol"].isin(["SPX", "UST10Y", "WTI", "N225"])]
    cutoff = pd.Timestamp("2020-03-16")
    full = series_features(compute_returns(panel, instruments).frame, panel, instruments)
    cut_panel = panel[panel["date"] <= cutoff]
    cut = series_features(compute_returns(cut_panel, instruments).frame, cut_panel, instruments)
    left = full[full["date"] <= cutoff].reset_index(drop=True)
    pd.testing.assert_frame_equal(left, cut.reset_index(drop=True))


def test_feature_table_columns(raw, instruments, suite):
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    panel = accepted_panel(raw.frame, instruments, decision)
    panel = panel[panel["symbol"] == "SPX"]
    features = series_features(compute_returns(panel, instruments).frame, panel, instruments)
    assert list(features.columns) == [
        "date", "symbol", "ret", "ret_method", "ewma_vol", "rv_21", "rv_63", "drawdown", "vol_rank", "regime"
    ]
    covid = features.set_index("date").loc["2020-03-16"]
    assert covid["regime"] == "high" and covid["drawdown"] < -0.25
    assert (features["ewma_vol"].dropna() > 0).all()
    assert set(features["regime"]) == {"unknown", "low", "normal", "high"}
    assert features["regime"].iloc[:251].eq("unknown").all()


@pytest.mark.parametrize("lam", [0.9, 0.94, 0.97])
def test_ewma_variance_is_positive(lam):
    r = np.random.default_rng(2).standard_t(3, 500) * 0.01
    assert (ewma_variance(r, lam)[19:] > 0).all()
