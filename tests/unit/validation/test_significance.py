"""Bootstrap coverage p-values, Diebold-Mariano, the model confidence set and the comparison table."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, norm

from risk_platform.errors import InputError
from risk_platform.models.baselines import series_returns
from risk_platform.validation.backtest import christoffersen, independence_lr, kupiec_lr, kupiec_pof, tick_losses
from risk_platform.validation.significance import (
    christoffersen_bootstrap_p,
    compare_methods,
    diebold_mariano,
    kupiec_bootstrap_p,
    mcs_members,
)
from risk_platform.validation.var_forecasts import VarForecast, rolling_var


def test_vectorised_statistics_equal_the_scalar_tests():
    rng = np.random.default_rng(3)
    hits = rng.random((20, 250)) < 0.03
    expected = [christoffersen(h, 0.99)[0] for h in hits]
    np.testing.assert_allclose(independence_lr(hits), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kupiec_lr(np.arange(6), 250, 0.99), [kupiec_pof(x, 250, 0.99)[0] for x in range(6)])


@pytest.mark.parametrize("x", [0, 2, 5, 8])
def test_kupiec_bootstrap_p_is_the_exact_binomial_tail_of_the_statistic(x):
    n, alpha = 250, 0.99
    counts = np.arange(n + 1)
    lr = kupiec_lr(counts, n, alpha)
    exact = binom.pmf(counts, n, 1 - alpha)[lr >= kupiec_lr(np.asarray(x), n, alpha) - 1e-9].sum()
    assert kupiec_bootstrap_p(x, n, alpha, draws=4000) == pytest.approx(exact, abs=0.02)
    assert kupiec_bootstrap_p(x, n, alpha) == kupiec_bootstrap_p(x, n, alpha)  # seeded


def test_bootstrap_differs_from_chi2_where_the_asymptotics_are_poor():
    # 250 days at 99%, no exception: chi2(1) says p 0.03 (reject), the exact null probability of a statistic
    # at least as large (0 or >= 6 exceptions) is about 0.12
    asymptotic = kupiec_pof(0, 250, 0.99)[1]
    assert asymptotic < 0.05 < kupiec_bootstrap_p(0, 250, 0.99)


def test_christoffersen_bootstrap_rejects_clustered_exceptions_only():
    n = 500
    iid = np.zeros(n, bool)
    iid[[40, 130, 220, 310, 400]] = True
    clustered = np.zeros(n, bool)
    clustered[[200, 201, 202, 203, 204]] = True
    p_ind, p_cc = christoffersen_bootstrap_p(iid, 0.99)
    assert p_ind > 0.5 and p_cc > 0.5
    p_ind, p_cc = christoffersen_bootstrap_p(clustered, 0.99)
    assert p_ind < 0.01 and p_cc < 0.01
    spread = np.zeros(n, bool)
    spread[::25] = True  # 20 exceptions where 5 are expected, never two in a row
    p_ind, p_cc = christoffersen_bootstrap_p(spread, 0.99)
    assert p_ind > 0.2 and p_cc < 0.01  # the rate fails conditional coverage, not independence


def test_diebold_mariano_by_hand():
    a = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 2.0, 8.0])
    b = np.array([1.5, 1.0, 2.5, 2.0, 3.0, 2.0, 1.0, 3.0])
    d = a - b  # -0.5, 2, -0.5, 3, 1, 4, 1, 5: mean 1.875
    e = d - 1.875
    lag = 2  # floor(8^(1/3))
    g0, g1, g2 = e @ e / 8, e[1:] @ e[:-1] / 8, e[2:] @ e[:-2] / 8
    s = g0 + 2 * (2 / 3) * g1 + 2 * (1 / 3) * g2
    result = diebold_mariano(a, b)
    assert result.lag == lag and result.mean_difference == pytest.approx(1.875)
    assert result.statistic == pytest.approx(1.875 / np.sqrt(s / 8))
    assert result.p_worse == pytest.approx(norm.sf(result.statistic)) and result.p_worse < 0.05  # a worse
    assert diebold_mariano(b, a).p_worse > 0.95  # b is not worse than a
    assert diebold_mariano(a, a).p_worse == 0.5  # identical: no evidence
    with pytest.raises(InputError, match="same length"):
        diebold_mariano(a, b[:5])


def test_model_confidence_set_drops_a_clearly_worse_method():
    rng = np.random.default_rng(0)
    good = rng.exponential(1.0, 500)
    same_mean = rng.permutation(good)  # as good on average, different days
    losses = pd.DataFrame({"a": good, "b": same_mean, "bad": good + 0.5})
    assert mcs_members(losses) == {"a", "b"}
    assert mcs_members(losses.assign(copy=losses["a"], bad_copy=losses["bad"])) == {"a", "b", "copy"}  # one verdict


@pytest.fixture(scope="module")
def spx_forecasts(daily_features):
    spx = series_returns(daily_features, "SPX")
    spx = spx[spx.index >= "2017-01-01"]
    return [rolling_var(spx, "price", m, 0.99, 500) for m in ("hs", "ewma", "fhs")]


def _renamed(forecast: VarForecast, name: str, scale: float = 1.0) -> VarForecast:
    return VarForecast(name, forecast.alpha, forecast.dates, forecast.losses, forecast.var * scale,
                       forecast.es * scale)


def test_comparison_table_on_real_spx(spx_forecasts):
    hs, ewma, fhs = spx_forecasts
    keep = ~np.isnan(fhs.var)
    fhs = VarForecast("fhs", 0.99, fhs.dates[keep], fhs.losses[keep], fhs.var[keep], fhs.es[keep])
    comparison = compare_methods([hs, ewma, fhs, _renamed(fhs, "lstm", 0.7)])
    table = comparison.table().set_index("method")
    assert len(set(table["n"])) == 1 and comparison.best_baseline in {"hs", "ewma", "fhs"}
    assert comparison.best_learned == comparison.best_model == "lstm"
    assert comparison.best_not_learned == comparison.best_baseline
    worse = table.loc["lstm"]
    assert worse["exceptions"] > table.loc["fhs", "exceptions"] and not worse["in_mcs_90"]
    assert worse["dm_p_worse_vs_best_baseline"] < 0.05 and worse["kupiec_p_boot"] < 0.05
    assert table.loc[comparison.best_baseline, "in_mcs_90"]
    assert np.isnan(table.loc[comparison.best_baseline, "dm_p_worse_vs_best_baseline"])
    ticks = tick_losses(fhs.losses, fhs.var, 0.99).mean()
    assert table.loc["fhs", "tick_loss"] == pytest.approx(ticks)
    assert {"kupiec_p", "christoffersen_p", "christoffersen_p_boot", "zone"} <= set(table.columns)
    assert json.loads(json.dumps(comparison.to_dict()))["best_learned"] == "lstm"  # the backtest JSON can carry it


def test_comparison_needs_one_confidence_and_common_days(spx_forecasts):
    hs = spx_forecasts[0]
    other = VarForecast("ewma", 0.975, hs.dates, hs.losses, hs.var, hs.es)
    with pytest.raises(InputError, match="one confidence"):
        compare_methods([hs, other])
    shifted = VarForecast("ewma", 0.99, hs.dates + pd.Timedelta(days=10_000), hs.losses, hs.var, hs.es)
    with pytest.raises(InputError, match="0 day"):
        compare_methods([hs, shifted])
