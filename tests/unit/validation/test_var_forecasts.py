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
