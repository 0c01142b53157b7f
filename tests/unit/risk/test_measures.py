"""VaR / ES against hand-computed values, numpy's inverted-CDF quantile and scipy's normal.

Convention: losses are positive; P&L gains positive.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import norm

from risk_platform.risk.measures import ewma_covariance, historical_es_contributions, historical_var_es
from risk_platform.risk.methods import parametric_method


def test_historical_var_es_by_hand():
    # 20 scenarios, losses 1..20: VaR95 = ceil(19)-th smallest = 19; ES95 = mean of worst 1 = 20
    pnl = -np.arange(1.0, 21.0)
    t = historical_var_es(pnl, 0.95)
    assert t.var == 19.0 and t.es == 20.0
    # 10 scenarios at 85%: VaR = ceil(8.5) = 9th smallest = 9; tail mass 1.5: (10 + 0.5 * 9) / 1.5
    t = historical_var_es(-np.arange(1.0, 11.0), 0.85)
    assert t.var == 9.0
    assert_allclose(t.es, (10 + 0.5 * 9) / 1.5)


@pytest.mark.parametrize("n", [250, 500, 1000])
@pytest.mark.parametrize("alpha", [0.95, 0.975, 0.99])
def test_var_is_the_inverted_cdf_quantile_and_es_the_tail_mean(n, alpha):
    pnl = np.random.default_rng(n).standard_t(4, n)
    t = historical_var_es(pnl, alpha)
    losses = -pnl
    assert t.var == np.quantile(losses, alpha, method="inverted_cdf")
    k = n * (1 - alpha)
    worst = np.sort(losses)[::-1]
    whole = int(np.floor(k + 1e-9))
    expected = (worst[:whole].sum() + (k - whole) * worst[whole]) / k
    assert_allclose(t.es, expected, rtol=1e-12)
    assert t.es >= t.var


def test_es_contributions_sum_to_es():
    pnl = np.random.default_rng(3).normal(size=(500, 6))
    contrib = historical_es_contributions(pnl, 0.99)
    assert_allclose(contrib.sum(), historical_var_es(pnl.sum(axis=1), 0.99).es, rtol=1e-12)


def test_ties_at_var_are_weighted_to_the_tail_mass():
    pnl = -np.array([1.0, 2.0, 5.0, 5.0, 5.0, 9.0, 0.0, 0.0, 0.0, 0.0])
    t = historical_var_es(pnl, 0.8)  # tail mass 2: worst is 9, then one of the 5s
    assert t.var == 5.0
    assert_allclose(t.es, (9 + 5) / 2)


def test_parametric_matches_scipy_and_euler_contributions_add_up():
    vols = np.array([0.01, 0.02])
    corr = np.array([[1.0, 0.2], [0.2, 1.0]])  # covariance [[1e-4, 4e-5], [4e-5, 4e-4]]
    cov = np.array([[0.0001, 0.00004], [0.00004, 0.0004]])
    exposures = np.array([[1e6, 0.0], [0.0, -5e5]])
    result, vol_contributions = parametric_method(exposures, vols, corr, "hand")
    total = exposures.sum(axis=0)
    sigma = np.sqrt(total @ cov @ total)
    assert_allclose(sigma, np.sqrt(1e12 * 1e-4 + 2.5e11 * 4e-4 - 2 * 5e11 * 4e-5))  # by hand: 12,649
    assert_allclose(result.sigma, sigma)
    assert_allclose(result.var_99, norm.ppf(0.99) * sigma)
    assert_allclose(result.es_99, sigma * norm.pdf(norm.ppf(0.99)) / 0.01)
    # ES from scipy by integration of the normal loss tail
    assert_allclose(result.es_95, norm.expect(lambda x: x, loc=0, scale=sigma, lb=norm.ppf(0.95) * sigma)
                    / 0.05, rtol=1e-6)
    assert_allclose((norm.ppf(0.99) * vol_contributions).sum(), result.var_99)
    assert_allclose(vol_contributions.sum(), sigma)


def test_ewma_covariance_matches_weighted_sum():
    x = np.random.default_rng(4).normal(size=(300, 3)) * 0.01
    lam = 0.94
    w = np.array([(1 - lam) * lam ** (299 - t) for t in range(300)])
    expected = sum(w[t] * np.outer(x[t], x[t]) for t in range(300)) / w.sum()
    assert_allclose(ewma_covariance(x, lam), expected, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(ewma_covariance(x, lam)) > 0)


def test_gpd_var_es_by_hand_and_against_scipy():
    """u 1, xi 0.25, beta 0.5, 10% above u, 99%: VaR = 1 + 2 (10**0.25 - 1), ES = (VaR + 0.25) / 0.75; the same
    from scipy's GPD quantile and a numerically integrated tail mean of the loss u + Y."""
    from scipy import integrate
    from scipy.stats import genpareto

    from risk_platform.risk.measures import gpd_var_es

    u, xi, beta, zeta, alpha = 1.0, 0.25, 0.5, 0.1, 0.99
    var, es = gpd_var_es(u, xi, beta, zeta, alpha)
    assert_allclose([var, es], [1 + 2 * (10**0.25 - 1), (1 + 2 * (10**0.25 - 1) + 0.25) / 0.75], rtol=1e-12)
    assert_allclose(var, u + genpareto.ppf(1 - (1 - alpha) / zeta, xi, scale=beta), rtol=1e-12)
    tail, _ = integrate.quad(lambda y: (u + y) * zeta * genpareto.pdf(y, xi, scale=beta), var - u, np.inf)
    assert_allclose(es, tail / (1 - alpha), rtol=1e-7)
    for shape in (-0.2, 0.0, 0.6):  # thin tail, the exponential limit, a heavy tail
        v, e = gpd_var_es(0.5, shape, 0.7, 0.05, 0.995)
        assert_allclose(v, 0.5 + genpareto.ppf(1 - 0.005 / 0.05, shape, scale=0.7), rtol=1e-10)
        mass, _ = integrate.quad(lambda y, c=shape: (0.5 + y) * 0.05 * genpareto.pdf(y, c, scale=0.7), v - 0.5,
                                 np.inf)
        assert_allclose(e, mass / 0.005, rtol=1e-6)
    assert_allclose(gpd_var_es(0.5, 1e-10, 0.7, 0.05, 0.995), gpd_var_es(0.5, 0.0, 0.7, 0.05, 0.995), rtol=1e-8)


def test_gpd_es_is_infinite_from_shape_one_and_the_tail_must_lie_beyond_the_threshold():
    from risk_platform.errors import ComputationError
    from risk_platform.risk.measures import gpd_var_es

    var, es = gpd_var_es(1.0, 1.2, 0.5, 0.1, 0.99)
    assert np.isfinite(var) and es == np.inf
    with pytest.raises(ComputationError, match="needs more than 1.00% of the data above the threshold"):
        gpd_var_es(1.0, 0.2, 0.5, 0.01, 0.99)


def test_fit_gpd_recovers_the_shape_and_maximises_the_likelihood():
    from scipy.stats import genpareto

    from risk_platform.errors import ComputationError
    from risk_platform.risk.measures import fit_gpd

    y = genpareto.rvs(0.2, scale=0.7, size=4000, random_state=np.random.default_rng(3))
    xi, beta = fit_gpd(y)
    assert abs(xi - 0.2) < 0.05 and abs(beta - 0.7) < 0.05
    c, _, scale = genpareto.fit(y, floc=0)
    ours, scipys = (genpareto.logpdf(y, a, scale=b).sum() for a, b in ((xi, beta), (c, scale)))
    assert ours >= scipys - 1e-4
    with pytest.raises(ComputationError, match="at least 10 positive finite exceedances, got 3"):
        fit_gpd(np.array([0.1, 0.2, 0.3]))
