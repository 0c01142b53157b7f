"""LSTM volatility/regime forecaster and its baselines: validity, reproducibility, leakage, bad input."""

import numpy as np
import pandas as pd
import pytest
import torch
from arch import arch_model
from numpy.testing import assert_allclose

from risk_platform.errors import ComputationError, InputError
from risk_platform.models import lstm as lstm_module
from risk_platform.models.baselines import ewma_forecasts, garch_filter, garch_forecasts, series_returns
from risk_platform.models.lstm import LSTMConfig, build_sequences, predict, train_lstm_vol, training_scales
from risk_platform.scoring import forecast_loss, qlike, qlike_one

TINY = LSTMConfig.demo(seq_len=8, hidden=8, epochs=1, sample_every=25, batch_size=256)


@pytest.fixture(scope="module")
def subset(daily_features):
    return daily_features[daily_features["symbol"].isin(["SPX", "UST10Y", "EURUSD", "WTI"])]


def test_qlike_by_hand():
    assert_allclose(qlike(np.array([2.0, 1.0, 0.0]), np.array([1.0, 1.0, 1.0]))[:2], [2 - np.log(2) - 1, 0.0])
    loss = forecast_loss(np.array([2.0, 1.0, 0.0]), np.array([1.0, 1.0, 1.0]))
    assert loss.n_zero == 1
    assert_allclose(loss.qlike, (1 - np.log(2)) / 2)
    with pytest.raises(ComputationError):
        qlike(np.array([1.0]), np.array([0.0]))
    assert qlike_one(2.0, 1.0) == pytest.approx(2 - np.log(2) - 1)  # one forecast: the same formula
    for realized, forecast in ((0.0, 1.0), (np.nan, 1.0), (1.0, 0.0), (1.0, np.inf)):
        assert np.isnan(qlike_one(realized, forecast))  # undefined: unscored, not an error


def test_garch_forecasts_match_arch_directly(daily_features):
    returns = series_returns(daily_features, "SPX")
    train_end = pd.Timestamp("2015-12-31")
    forecasts, fit = garch_forecasts(returns, train_end)
    n_train = int((returns.index <= train_end).sum())
    direct = arch_model(returns / fit.scale, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False).fit(
        last_obs=n_train, disp="off")
    assert_allclose([fit.alpha, fit.beta, fit.nu], direct.params[["alpha[1]", "beta[1]", "nu"]], rtol=1e-10)
    # the fixed-parameter filter: h_{t+1} = omega + alpha r_t^2 + beta h_t
    manual = garch_filter(returns.to_numpy()[n_train:n_train + 50], fit, forecasts.iloc[0])
    assert_allclose(manual, forecasts.iloc[1:51].to_numpy(), rtol=1e-9)
    assert forecasts.index[0] == returns.index[n_train - 1]  # dated at the origin: a forecast for the next day


def test_ewma_forecast_is_the_riskmetrics_recursion(daily_features):
    returns = series_returns(daily_features, "GOLD")
    forecast = ewma_forecasts(returns)
    r = returns.to_numpy()
    assert_allclose(forecast.iloc[100], 0.94 * forecast.iloc[99] + 0.06 * r[100] ** 2)


def test_fast_dev_run_gives_valid_forecasts(subset):
    result = train_lstm_vol(subset, LSTMConfig.demo(), fast_dev_run=True)
    latest = lstm_module.forecast_latest(result.forecaster, subset, result.symbols, result.config.seq_len)
    assert list(latest["symbol"]) == ["EURUSD", "SPX", "UST10Y", "WTI"]
    assert (latest["variance"] > 0).all() and np.isfinite(latest["variance"]).all()
    assert_allclose(latest[["p_low", "p_normal", "p_high"]].sum(axis=1), 1.0, atol=1e-5)
    assert (latest["variance_q10"] <= latest["variance_q90"]).all()
    assert set(result.evaluation.index) == {"EURUSD", "SPX", "UST10Y", "WTI", "pooled"}
    assert np.isfinite(result.metrics["qlike_ratio_to_garch_t"])


def test_same_seed_same_weights(subset):
    first = train_lstm_vol(subset, TINY).forecaster.state_dict()
    second = train_lstm_vol(subset, TINY).forecaster.state_dict()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_training_targets_end_before_the_split(subset):
    train_end = pd.Timestamp("2012-06-29")
    symbols = sorted(subset["symbol"].unique())
    scales = training_scales(subset, symbols, train_end)
    train = build_sequences(subset, symbols, 16, "train", train_end, scales=scales)
    for symbol in symbols:
        dates = pd.DatetimeIndex(subset.loc[subset["symbol"] == symbol, "date"].sort_values())
        last_origin = pd.Timestamp(train.origin[train.symbol == symbol].max())
        assert dates[dates.get_loc(last_origin) + 5] <= train_end  # the 5-day interval target too
    test = build_sequences(subset, symbols, 16, "test", train_end)
    assert pd.Timestamp(test.origin.min()) > train_end


def test_forecaster_output_scales_with_the_series(subset):
    result = train_lstm_vol(subset, TINY)
    latest = build_sequences(subset, result.symbols, TINY.seq_len, "latest", pd.Timestamp.max)
    out = predict(result.forecaster, latest.x)
    ust = result.symbols.index("UST10Y")
    assert out[ust, 0] > 100 * out[result.symbols.index("SPX"), 0]  # bp^2 against log-return^2


def test_too_little_history_or_nan_features_fail_before_training(subset):
    short = subset[subset["date"] <= "2000-06-30"]
    with pytest.raises(InputError, match="the LSTM needs 250"):
        train_lstm_vol(short, TINY)
    broken = subset.copy()
    broken.loc[broken.index[3000], "rv_21"] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        train_lstm_vol(broken, TINY)


def test_a_nan_loss_fails_the_run(subset, monkeypatch):
    real_forward = lstm_module.VolRegimeLSTM.forward

    def poisoned(self, x):
        log_h, logits, q = real_forward(self, x)
        return log_h * float("nan"), logits, q

    monkeypatch.setattr(lstm_module.VolRegimeLSTM, "forward", poisoned)
    with pytest.raises(ComputationError, match="train_loss became nan"):
        train_lstm_vol(subset, TINY)
