"""Rolling VaR/ES forecasts by method: each day's figure from data up to the day before."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import integrate
from scipy.stats import norm
from scipy.stats import t as student_t

from risk_platform.errors import InputError
from risk_platform.ewma import ewma_variance
from risk_platform.models.baselines import garch_forecasts, series_returns
from risk_platform.risk.measures import historical_var_es, normal_var_es, student_t_var_es
from risk_platform.validation.var_forecasts import rolling_var, series_losses


@pytest.fixture(scope="module")
def spx(daily_features):
    return series_returns(daily_features, "SPX")


def test_student_t_var_es_match_scipy():
    nu, sigma, alpha = 5.0, 2.0, 0.99
    var, es = student_t_var_es(sigma, nu, alpha)
    scale = sigma * np.sqrt((nu - 2) / nu)
    assert_allclose(var, student_t.ppf(alpha, nu, scale=scale))
    tail, _ = integrate.quad(lambda x: x * student_t.pdf(x, nu, scale=scale), var, np.inf)
    assert_allclose(es, tail / (1 - alpha), rtol=1e-7)
    v, e = normal_var_es(3.0, 0.975)
    assert_allclose([v, e], [3 * norm.ppf(0.975), 3 * norm.pdf(norm.ppf(0.975)) / 0.025])


def test_losses_of_a_long_position():
    r = pd.Series([0.01, -0.02])
    assert_allclose(series_losses(r, "price"), [-0.01, 0.02])
    assert_allclose(series_losses(r, "yield_pct"), [0.01, -0.02])  # yields up: the long bond loses


def test_hs_uses_only_the_previous_window(spx):
    f = rolling_var(spx, "index_level", "hs", 0.99, window=250)
    losses = -spx.to_numpy()
    t = spx.index.get_loc(f.dates[100])
    expected = historical_var_es(-losses[t - 250:t], 0.99)
    assert_allclose([f.var[100], f.es[100]], [expected.var, expected.es])
    assert f.dates[0] == spx.index[250]


def test_ewma_and_garch_forecasts(spx):
    f = rolling_var(spx, "index_level", "ewma", 0.99)
    losses = -spx.to_numpy()
    t = spx.index.get_loc(f.dates[-1])
    assert_allclose(f.var[-1], norm.ppf(0.99) * np.sqrt(ewma_variance(losses)[t - 1]))
    g = rolling_var(spx.iloc[:1400], "index_level", "garch", 0.99, window=1000)
    variance, fit = garch_forecasts(-spx.iloc[:1400], spx.index[999])
    assert_allclose(g.var[0], student_t_var_es(np.sqrt(variance.iloc[0]), fit.nu, 0.99)[0])
    assert g.dates[0] == spx.index[1000]


def test_fhs_rescales_standardised_losses(spx):
    f = rolling_var(spx, "index_level", "fhs", 0.99, window=500)
    assert np.all(f.var > 0) and np.all(f.es >= f.var)
    calm, crisis = f.var[f.dates == "2017-06-01"], f.var[f.dates == "2020-03-16"]
    assert crisis[0] > 4 * calm[0]  # follows the volatility, unlike plain HS


def test_lstm_method_uses_the_forecast_made_the_day_before(spx):
    variance = pd.Series(np.full(len(spx), 1e-4), index=spx.index)
    variance.iloc[700] = 4e-4  # origin 700 -> the forecast for day 701
    f = rolling_var(spx, "index_level", "lstm", 0.99, window=500, lstm_variance=variance)
    day = spx.index[701]
    assert_allclose(f.var[f.dates == day], norm.ppf(0.99) * 0.02)


def test_bad_method_and_short_history(spx):
    with pytest.raises(InputError, match="unknown method"):
        rolling_var(spx, "index_level", "magic", 0.99)
    with pytest.raises(InputError, match="window needs more"):
        rolling_var(spx.iloc[:300], "index_level", "hs", 0.99)


def _garch_t4(n: int, seed: int = 7) -> tuple[pd.Series, pd.Series]:
    """A GARCH(1,1) with unit-variance Student-t(4) shocks (returns) and its true next-day variance, dated at
    the origin."""
    rng = np.random.default_rng(seed)
    shocks = rng.standard_t(4, size=n) / np.sqrt(2.0)
    r, h = np.empty(n), np.empty(n + 1)
    h[0] = 1e-4
    for t in range(n):
        r[t] = np.sqrt(h[t]) * shocks[t]
        h[t + 1] = 5e-6 + 0.08 * r[t] ** 2 + 0.87 * h[t]
    dates = pd.bdate_range("2000-01-03", periods=n)
    return pd.Series(r, index=dates, name="SIM"), pd.Series(h[1:], index=dates)


@pytest.fixture(scope="module")
def heavy():
    return _garch_t4(5500)


@pytest.mark.parametrize(("evt", "normal"), [("evt_ewma", "ewma"), ("evt_lstm", "lstm")])
def test_evt_is_above_the_normal_tail_of_its_filter_and_calibrated_on_heavy_tails(heavy, evt, normal):
    """Student-t(4) shocks: the GPD tail of the standardised losses lies beyond the normal one of the same filter
    (EWMA; the true variance standing in for the LSTM's), and its 99% exceptions over 5,000 days are near 1%
    where the normal's are not."""
    returns, variance = heavy
    e, n = (rolling_var(returns, "price", m, 0.99, window=500, lstm_variance=variance) for m in (evt, normal))
    same = n.dates.isin(e.dates)  # the normal ewma also forecasts within the first window
    assert e.dates.equals(n.dates[same]) and len(e.dates) == 5000
    assert np.all(np.isfinite(e.var) & np.isfinite(e.es)) and np.all(e.var >= n.var[same]) and np.all(e.es >= e.var)
    assert 0.0065 < np.mean(e.losses > e.var) < 0.0135
    assert np.mean(n.losses[same] > n.var[same]) > 0.0135


def test_evt_garch_is_above_the_normal_var_of_its_garch_filter_and_calibrated(heavy):
    returns, _ = heavy
    g = rolling_var(returns.iloc[:3000], "price", "evt_garch", 0.99, window=500)
    assert len(g.dates) == 2500 and np.all(np.isfinite(g.var) & (g.es >= g.var))
    assert 0.005 < np.mean(g.losses > g.var) < 0.017
    variance, fit = garch_forecasts(-returns.iloc[:3000], returns.index[499])
    normal, _ = normal_var_es(np.sqrt(variance.iloc[:250].to_numpy()), 0.99)  # the first block's GARCH sigma
    assert np.all(g.var[:250] > normal)


@pytest.mark.parametrize("method", ["evt_ewma", "evt_garch", "evt_lstm"])
def test_evt_forecasts_use_no_data_of_their_own_day_or_later(heavy, method):
    returns, variance = (s.iloc[:1600] for s in heavy)
    cut = returns.index[1200]
    changed = returns.where(returns.index < cut, returns * 4.0 + 0.01)
    before, after = (rolling_var(r, "price", method, 0.99, window=500, lstm_variance=variance)
                     for r in (returns, changed))
    assert before.dates.equals(after.dates)
    upto = before.dates <= cut
    assert upto.sum() == 701
    np.testing.assert_array_equal(before.var[upto], after.var[upto])
    np.testing.assert_array_equal(before.es[upto], after.es[upto])
    assert not np.allclose(before.var[~upto], after.var[~upto])


def test_evt_tail_follows_the_gpd_of_the_standardised_losses_before_the_origin(heavy):
    """The first evt_ewma forecast by hand: the GPD fitted to the first 500 days' EWMA-standardised losses above
    their 90% quantile, times the day's EWMA sigma."""
    from risk_platform.ewma import ewma_sigma_forecast
    from risk_platform.risk.measures import fit_gpd, gpd_var_es

    returns, _ = heavy
    f = rolling_var(returns.iloc[:600], "price", "evt_ewma", 0.99, window=500)
    losses = -returns.iloc[:600].to_numpy()
    sigma = ewma_sigma_forecast(losses)
    z = (losses / sigma)[:500]
    z = z[np.isfinite(z)]
    u = np.quantile(z, 0.90)
    xi, beta = fit_gpd(z[z > u] - u)
    var_z, es_z = gpd_var_es(u, xi, beta, np.mean(z > u), 0.99)
    assert f.dates[0] == returns.index[500]
    assert_allclose([f.var[0], f.es[0]], [sigma[500] * var_z, sigma[500] * es_z], rtol=1e-12)


def test_evt_lstm_needs_the_lstm_variance(spx):
    with pytest.raises(InputError, match="the evt_lstm method needs the LSTM's variance forecasts"):
        rolling_var(spx, "index_level", "evt_lstm", 0.99)
