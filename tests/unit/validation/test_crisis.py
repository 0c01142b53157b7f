"""Crisis-window validation pieces: windows, the no-leakage split, the book's P&L and its VaR forecasts."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import norm

from risk_platform.crisis_windows import CRISIS_WINDOWS, crisis_window
from risk_platform.errors import InputError, LeakageError
from risk_platform.families import FAMILIES
from risk_platform.models.governance import PromotionPolicy, evaluate_gates
from risk_platform.validation import crisis
from risk_platform.validation.crisis import WindowValidation
from risk_platform.validation.report import summarize_family


def test_the_seven_windows_of_the_design():
    assert [(w.key, f"{w.start:%Y-%m-%d}", f"{w.end:%Y-%m-%d}") for w in CRISIS_WINDOWS] == [
        ("gfc_2008", "2008-09-15", "2009-03-31"), ("euro_2011", "2011-08-01", "2011-10-31"),
        ("china_2015", "2015-08-10", "2015-09-30"), ("volmageddon_2018", "2018-01-29", "2018-04-30"),
        ("covid_2020", "2020-02-20", "2020-04-30"), ("rates_2022", "2022-01-03", "2022-10-31"),
        ("svb_2023", "2023-03-08", "2023-03-31")]
    with pytest.raises(InputError, match="unknown crisis window"):
        crisis_window("dotcom")


def test_training_rows_stop_before_the_window(daily_features):
    for window in CRISIS_WINDOWS:
        rows = crisis.training_rows(daily_features, window)
        assert rows["date"].max() < window.start
        assert rows["date"].min() >= window.start - pd.DateOffset(years=crisis.TRAIN_YEARS)
    with pytest.raises(LeakageError, match="not before covid_2020"):
        crisis.assert_before(pd.Series(pd.to_datetime(["2020-01-02", "2020-02-20"])),
                             crisis_window("covid_2020"), "rows")


def _daily(dates, returns: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"date": d, "symbol": s, "ret": r} for s, values in returns.items()
            for d, r in zip(dates, values, strict=True) if r is not None]
    return pd.DataFrame(rows)


def test_book_pnl_is_exposure_times_return_and_closed_venues_do_not_move():
    dates = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"])
    daily = _daily(dates, {"A": [0.01, -0.02, 0.0], "B": [5.0, None, -3.0]})  # B closed on the 3rd
    pnl = crisis.book_pnl(daily, pd.Series({"A": 1e6, "B": -2e4}))
    assert_allclose(pnl.to_numpy(), [0.01 * 1e6 - 5.0 * 2e4, -0.02 * 1e6, 3.0 * 2e4])
    late = crisis.book_pnl(daily, pd.Series({"A": 1e6, "C": 5e5}))  # C started after this history: it does not move
    assert_allclose(late.to_numpy(), [0.01 * 1e6, -0.02 * 1e6, 0.0])
    assert crisis.series_without_history(daily, pd.Series({"A": 1.0, "C": 1.0})) == ["C"]
    with pytest.raises(Exception, match="no feature rows for any of its 1 series"):
        crisis.book_pnl(daily, pd.Series({"C": 1.0}))


def test_forecasts_before_takes_the_last_origin_strictly_before():
    wide = pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-07"]))
    out = crisis.forecasts_before(wide, pd.to_datetime(["2020-01-03", "2020-01-06", "2020-01-07", "2020-01-08"]))
    assert out["v"].tolist() == [1.0, 2.0, 2.0, 3.0]


def test_ewma_correlation_uses_only_days_before():
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2019-01-01", periods=400)
    returns = pd.DataFrame(rng.normal(size=(400, 3)), index=dates, columns=list("abc"))
    target = dates[[300, 350]]
    out = crisis.ewma_correlations(returns, target)
    x = returns.to_numpy()
    cov = np.cov(x[:250].T)
    for t in range(350):
        if t == 300:
            expected_300 = cov.copy()
        cov = 0.94 * cov + 0.06 * np.outer(x[t], x[t])
    for got, cov_t in ((out[0], expected_300), (out[1], cov)):
        sd = np.sqrt(np.diag(cov_t))
        assert_allclose(got, cov_t / np.outer(sd, sd), rtol=1e-10)
    changed = returns.copy()
    changed.iloc[350:] *= 10  # data on or after the target day does not matter
    assert_allclose(crisis.ewma_correlations(changed, target), out)


def test_normal_book_var_by_hand():
    pnl = pd.Series([-10.0, 5.0], index=pd.to_datetime(["2020-01-02", "2020-01-03"]))
    exposure = np.array([100.0, -50.0])
    vols = np.array([[0.01, 0.02], [0.02, 0.02]])
    rho = 0.5
    corr = np.array([[[1.0, rho], [rho, 1.0]]] * 2)
    f = crisis.normal_book_forecast("lstm", pnl, exposure, vols, corr, 0.99)
    sigma0 = np.sqrt(1.0**2 + 1.0**2 - 2 * rho * 1.0 * 1.0)  # (100*0.01)^2 + (50*0.02)^2 - 2 rho 1 1
    sigma1 = np.sqrt(2.0**2 + 1.0**2 - 2 * rho * 2.0 * 1.0)
    assert_allclose(f.var, norm.ppf(0.99) * np.array([sigma0, sigma1]))
    assert_allclose(f.losses, [10.0, -5.0])  # losses positive


def test_scenario_var_scales_shocks_of_the_previous_days_regime_by_the_previous_days_volatility():
    pnl = pd.Series([1.0, 2.0, 3.0], index=pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]))
    shock = {"low": 1.0, "normal": 2.0, "high": 5.0}
    base = np.linspace(-1, 1, 1001)[:, None]

    def shocks(regime: str) -> np.ndarray:
        return base * shock[regime]

    vol_before = np.array([[1.0], [1.0], [3.0]])
    forecasts = crisis.scenario_book_forecasts("gan", pnl, np.array([2.0]), pd.Series(["low", "high", "high"]),
                                               vol_before, shocks)
    f99 = next(f for f in forecasts if f.alpha == 0.99)
    assert f99.var[0] == pytest.approx(2 * 0.98, abs=0.006)  # exposure 2 x the 99% loss quantile of base
    assert f99.var[1] / f99.var[0] == pytest.approx(5.0)  # the regime's shocks
    assert f99.var[2] / f99.var[1] == pytest.approx(3.0)  # times the volatility
    assert [f.alpha for f in forecasts] == [0.95, 0.99] and np.all(f99.es >= f99.var)
    skipped = crisis.scenario_book_forecasts("gan", pnl, np.array([2.0]), pd.Series(["low", None, "high"]),
                                             np.array([[1.0], [1.0], [np.nan]]), shocks)
    assert len(skipped[1].dates) == 1  # no regime or no volatility the day before: no forecast


def _window(family: str, key: str, zone: str, n: int, x: int, **metrics) -> WindowValidation:
    row = {"method": family.split("_")[0], "alpha": 0.99, "n": n, "exceptions": x, "expected_exceptions": n / 100,
           "zone": zone, "kupiec_p": 0.5, "christoffersen_p": 0.5, "conditional_coverage_p": 0.5, "es_z2": 0.0,
           "es_zone": "green", "tick_loss": 1.0, "kupiec_lr": 0, "christoffersen_lr": 0,
           "conditional_coverage_lr": 0}
    return WindowValidation(key, family, "evaluated", [row], metrics, [], "2001-01-01", "2008-01-01", 10)


def test_family_summary_feeds_the_gates():
    windows = [_window("lstm_vol", "a", "green", 100, 1, qlike_lstm=1.0, qlike_ewma=1.1, qlike_garch_t=1.2),
               _window("lstm_vol", "b", "red", 50, 6, qlike_lstm=3.0, qlike_ewma=2.9, qlike_garch_t=3.1),
               WindowValidation("c", "lstm_vol", "not evaluable: too little history")]
    summary = summarize_family("lstm_vol", windows, [], FAMILIES["lstm_vol"].window_metrics, method="lstm")
    assert summary.metrics["red_windows_99"] == 1 and summary.metrics["windows_evaluated"] == 2
    assert summary.metrics["exceptions_99"] == 7 and summary.metrics["days_99"] == 150
    assert summary.metrics["qlike_ratio_to_ewma"] == pytest.approx(2.0 / 2.0)
    assert summary.metrics["qlike_ratio_to_garch_t"] == pytest.approx(2.0 / 2.15)
    gates = evaluate_gates(FAMILIES["lstm_vol"].gates, summary.metrics, PromotionPolicy())
    assert summary.metrics["windows_compared"] == 0  # no baselines (and no series) to compare with
    assert not gates.passed and "FAIL at least 5 crisis windows compared with the baselines" in gates.reason
    assert "FAIL Kupiec bootstrap p at 99% over the walk-forward out-of-sample period above 0.05: metric" \
        " oos_kupiec_p_boot_99 missing (no walk-forward out-of-sample forecasts of the validation book reached the" \
        " promotion)" in gates.reason


def test_each_family_summarises_its_own_window_figures():
    gnn = [_window("gnn_corr", "a", "green", 100, 1, frobenius_gnn=1.0, frobenius_sample63=2.0, frobenius_ewma=1.5,
                   n_test=30.0),
           _window("gnn_corr", "b", "green", 100, 1, frobenius_gnn=4.0, frobenius_sample63=4.0, frobenius_ewma=3.0,
                   n_test=10.0)]
    metrics = summarize_family("gnn_corr", gnn, [], FAMILIES["gnn_corr"].window_metrics, method="gnn").metrics
    assert metrics["frobenius_gnn"] == pytest.approx((30 * 1.0 + 10 * 4.0) / 40)  # weighted by test dates
    assert metrics["ratio_gnn_to_sample63"] == pytest.approx(1.75 / 2.5)
    gan = [_window("gan_scenarios", "a", "green", 100, 1, window_disc_score=0.6),
           _window("gan_scenarios", "b", "green", 100, 1, window_disc_score=0.8, window_var99_rel_err_60_40=0.1),
           WindowValidation("c", "gan_scenarios", "not evaluable: too little history")]
    metrics = summarize_family("gan_scenarios", gan, [], FAMILIES["gan_scenarios"].window_metrics,
                               method="gan").metrics
    assert metrics["crisis_mean_disc_score"] == pytest.approx(0.7)
    assert metrics["crisis_mean_var99_rel_err_60_40"] == pytest.approx(0.1)
    assert "crisis_mean_es975_rel_err_60_40" not in metrics and "qlike_lstm" not in metrics
    nothing = summarize_family("lstm_vol", [WindowValidation("a", "lstm_vol", "not evaluable: no data")], [],
                               FAMILIES["lstm_vol"].window_metrics, method="evt_lstm").metrics
    assert nothing["windows_evaluated"] == 0 and "qlike_lstm" not in nothing
