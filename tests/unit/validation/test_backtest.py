"""Backtests against textbook values computed by hand and with scipy."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import binom, chi2

from risk_platform.errors import ComputationError, InputError
from risk_platform.validation.backtest import (
    acerbi_szekely_z2,
    backtest,
    christoffersen,
    kupiec_pof,
    tick_loss,
    traffic_light,
)


@pytest.mark.parametrize(("x", "zone"), [(0, "green"), (4, "green"), (5, "yellow"), (9, "yellow"), (10, "red"),
                                         (15, "red")])
def test_basel_traffic_light_250_days_at_99(x, zone):
    assert traffic_light(x, 250, 0.99) == zone


def test_traffic_light_boundaries_come_from_the_binomial_cdf():
    # 500 days at 99%: yellow starts where P(X <= x) first reaches 95%
    first_yellow = next(x for x in range(50) if binom.cdf(x, 500, 0.01) >= 0.95)
    assert traffic_light(first_yellow - 1, 500, 0.99) == "green"
    assert traffic_light(first_yellow, 500, 0.99) == "yellow"


def test_kupiec_by_hand():
    # n = 250, x = 7, p = 0.01
    n, x, p = 250, 7, 0.01
    lr = -2 * ((n - x) * np.log(1 - p) + x * np.log(p) - (n - x) * np.log(1 - x / n) - x * np.log(x / n))
    stat, pvalue = kupiec_pof(x, n, 0.99)
    assert_allclose(stat, lr)
    assert_allclose(pvalue, chi2.sf(lr, 1))
    assert_allclose(kupiec_pof(0, 250, 0.99)[0], -2 * 250 * np.log(0.99))  # no exception at all
    assert kupiec_pof(25, 1000, 0.975)[1] == pytest.approx(1.0)  # exactly the expected rate


def test_christoffersen_clustered_exceptions_are_rejected():
    clustered = np.zeros(500, dtype=int)
    clustered[100:105] = 1  # five in a row
    lr_ind, p_ind, lr_cc, p_cc = christoffersen(clustered, 0.99)
    # by hand over 499 transitions: n00=493, n01=1, n10=1, n11=4
    pi0, pi1, pi = 1 / 494, 4 / 5, 5 / 499
    expected = -2 * (494 * np.log(1 - pi) + 5 * np.log(pi)
                     - (493 * np.log(1 - pi0) + np.log(pi0) + np.log(1 - pi1) + 4 * np.log(pi1)))
    assert_allclose(lr_ind, expected)
    assert p_ind < 1e-6
    assert_allclose(lr_cc, kupiec_pof(5, 500, 0.99)[0] + lr_ind)
    assert_allclose(p_cc, chi2.sf(lr_cc, 2))
    spread = np.zeros(500, dtype=int)
    spread[::100] = 1
    assert christoffersen(spread, 0.99)[1] > 0.5


def test_tick_loss_and_es_z2_by_hand():
    losses = np.array([1.0, 3.0, -2.0, 5.0])
    var = np.array([2.0, 2.0, 2.0, 2.0])
    # hits at 3 and 5; alpha 0.75: ((0-.25)(1-2) + (1-.25)(3-2) + (0-.25)(-2-2) + (1-.25)(5-2)) / 4
    assert_allclose(tick_loss(losses, var, 0.75), (0.25 + 0.75 + 1.0 + 2.25) / 4)
    result = backtest(losses, var, 0.75, es=np.full(4, 4.0))
    assert_allclose(result.es_z2, (3 / 4 + 5 / 4) / (4 * 0.25) - 1)
    assert result.exceptions == 2 and result.expected_exceptions == 1.0


def test_a_correct_model_passes_on_simulated_data():
    rng = np.random.default_rng(11)
    losses = rng.standard_normal(2500)
    var = np.full(2500, 2.3263478740408408)  # true 99% quantile
    es = np.full(2500, 2.665214220345808)  # true 99% ES of N(0, 1)
    result = backtest(losses, var, 0.99, es)
    assert result.kupiec_p > 0.05 and result.conditional_coverage_p > 0.05
    assert abs(result.es_z2) < 0.7 and result.es_zone == "green"
    too_small = backtest(losses, var * 0.7, 0.99, es * 0.7)
    assert too_small.kupiec_p < 0.001 and too_small.zone == "red" and too_small.es_z2 > 0.7
    assert "exceptions" in result.summary()


def test_z2_with_a_zero_or_missing_es_is_not_evaluable_never_a_zone():
    losses = np.array([1.0, 3.0, -2.0, 5.0])
    var = np.full(4, 2.0)
    # exceptions on days 2 and 4; the ES forecast of day 2 is 0: 3 / 0 is undefined
    result = backtest(losses, var, 0.75, es=np.array([4.0, 0.0, 4.0, 4.0]))
    assert result.es_z2 is None
    assert result.es_zone == "not evaluable: ES forecast zero or negative on 1 of 2 exception days (Z2 divides by ES)"
    assert "ES Z2 not evaluable: ES forecast zero or negative" in result.summary() and "nan" not in result.summary()
    missing = backtest(losses, var, 0.75, es=np.array([4.0, np.nan, 4.0, 4.0]))
    assert missing.es_z2 is None and missing.es_zone == "not evaluable: ES forecast missing or infinite on 1 of 4 days"
    # a zero ES on a day without an exception does not enter the sum: Z2 stays defined
    defined = backtest(losses, var, 0.75, es=np.array([0.0, 4.0, 4.0, 4.0]))
    assert_allclose(defined.es_z2, (3 / 4 + 5 / 4) / (4 * 0.25) - 1)
    with pytest.raises(ComputationError, match="Z2 not evaluable: ES forecast zero or negative"):
        acerbi_szekely_z2(losses, var, np.array([4.0, -1.0, 4.0, 4.0]), 0.75)


def test_no_exception_keeps_the_defined_conventions():
    losses, var = np.zeros(250), np.ones(250)
    result = backtest(losses, var, 0.99, es=np.full(250, 2.0))
    assert result.exceptions == 0 and result.zone == "green"
    assert_allclose(result.kupiec_lr, -2 * 250 * np.log(0.99))
    assert result.christoffersen_lr == 0.0 and result.christoffersen_p == 1.0
    assert result.es_z2 == -1.0 and result.es_zone == "green"  # Z2 = 0 / (n (1 - alpha)) - 1


def test_statistics_without_scored_days_are_not_evaluable():
    assert traffic_light(0, 0, 0.99) == "not evaluable: no scored days"
    with pytest.raises(ComputationError, match="Kupiec test not evaluable: 0 exceptions over 0 scored days"):
        kupiec_pof(0, 0, 0.99)
    with pytest.raises(ComputationError, match="Kupiec test not evaluable: 3 exceptions over 2 scored days"):
        kupiec_pof(3, 2, 0.99)
    with pytest.raises(ComputationError, match="Christoffersen test not evaluable: 1 scored day"):
        christoffersen(np.array([1]), 0.99)
    with pytest.raises(InputError, match="confidence must be strictly between 0 and 1, got 1.0"):
        backtest(np.zeros(3), np.ones(3), 1.0)
