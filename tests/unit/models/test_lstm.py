"""LSTM volatility/regime forecaster and its baselines: validity, reproducibility, leakage, bad input, forecasts
of series outside the training set."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from arch import arch_model
from numpy.testing import assert_allclose

from risk_platform.errors import ComputationError, InputError
from risk_platform.models import lstm as lstm_module
from risk_platform.models.baselines import ewma_forecasts, garch_filter, garch_forecasts, series_returns
from risk_platform.models.lstm import (
    LSTMConfig,
    build_sequences,
    forecast_latest,
    predict,
    refit_lstm_vol,
    require_global,
    split_for,
    train_lstm_vol,
    variance_forecasts,
)
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
    latest = forecast_latest(result.forecaster, subset, result.symbols, result.config.seq_len)
    assert list(latest["symbol"]) == ["EURUSD", "SPX", "UST10Y", "WTI"] and latest["seen_in_training"].all()
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
    train = build_sequences(subset, 16, "train", train_end)
    for symbol in symbols:
        dates = pd.DatetimeIndex(subset.loc[subset["symbol"] == symbol, "date"].sort_values())
        last_origin = pd.Timestamp(train.origin[train.symbol == symbol].max())
        assert dates[dates.get_loc(last_origin) + 5] <= train_end  # the 5-day interval target too
    test = build_sequences(subset, 16, "test", train_end)
    assert pd.Timestamp(test.origin.min()) > train_end


def test_forecaster_output_scales_with_the_series(subset):
    result = train_lstm_vol(subset, TINY)
    latest = build_sequences(subset, TINY.seq_len, "latest", pd.Timestamp.max)
    out = predict(result.forecaster, latest.x)
    ust, spx = list(latest.symbol).index("UST10Y"), list(latest.symbol).index("SPX")
    assert out[ust, 0] > 100 * out[spx, 0]  # bp^2 against log-return^2


def test_too_little_history_or_nan_features_fail_before_training(subset):
    short = subset[subset["date"] <= "2000-06-30"]
    with pytest.raises(InputError, match="the LSTM needs 250"):
        train_lstm_vol(short, TINY)
    broken = subset.copy()
    broken.loc[broken.index[3000], "rv_21"] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        train_lstm_vol(broken, TINY)


def test_a_series_still_in_its_warm_up_gives_no_windows_and_the_others_go_on(subset):
    symbol = sorted(subset["symbol"].unique())[0]
    late = subset[(subset["symbol"] != symbol) | (subset["date"] >= subset["date"].max() - pd.Timedelta(days=20))]
    late = late.copy()
    late.loc[late["symbol"] == symbol, "rv_63"] = np.nan  # started 20 days ago: no complete day yet
    out = build_sequences(late, TINY.seq_len, "all", pd.Timestamp.max)
    assert symbol not in set(out.symbol) and len(set(out.symbol)) == subset["symbol"].nunique() - 1


def test_a_nan_loss_fails_the_run(subset, monkeypatch):
    real_forward = lstm_module.VolRegimeLSTM.forward

    def poisoned(self, x):
        log_h, logits, q = real_forward(self, x)
        return log_h * float("nan"), logits, q

    monkeypatch.setattr(lstm_module.VolRegimeLSTM, "forward", poisoned)
    with pytest.raises(ComputationError, match="train_loss became nan"):
        train_lstm_vol(subset, TINY)


@pytest.fixture(scope="module")
def tiny(subset):
    return train_lstm_vol(subset, TINY)


def test_a_series_absent_from_training_gets_a_finite_forecast_marked_unseen(tiny, daily_features):
    universe = daily_features[daily_features["symbol"].isin(["SPX", "UST10Y", "EURUSD", "WTI", "GOLD", "UST2Y"])]
    latest = forecast_latest(tiny.forecaster, universe, tiny.symbols, TINY.seq_len).set_index("symbol")
    assert tiny.symbols == ["EURUSD", "SPX", "UST10Y", "WTI"]
    assert latest["seen_in_training"].to_dict() == {"EURUSD": True, "GOLD": False, "SPX": True, "UST10Y": True,
                                                    "UST2Y": False, "WTI": True}
    assert np.isfinite(latest["variance"]).all() and (latest["variance"] > 0).all()
    assert latest.at["UST2Y", "variance"] > 100 * latest.at["GOLD", "variance"]  # its own units: bp^2, log^2
    gold = variance_forecasts(tiny.forecaster, universe, TINY.seq_len, "GOLD")
    assert np.isfinite(gold).all() and gold.index[-1] == latest.at["GOLD", "origin"]
    assert gold.iloc[-1] == pytest.approx(latest.at["GOLD", "variance"], rel=1e-5)


def test_a_forecast_uses_no_data_after_its_origin(tiny, daily_features):
    """Truncating, or changing, every row after 2015-06-30 leaves the forecasts made up to that day unchanged."""
    spx = daily_features[daily_features["symbol"] == "SPX"]
    cut = pd.Timestamp("2015-06-30")
    full = variance_forecasts(tiny.forecaster, spx, TINY.seq_len, "SPX")
    truncated = variance_forecasts(tiny.forecaster, spx[spx["date"] <= cut], TINY.seq_len, "SPX")
    later = spx["date"] > cut
    shocked = spx.assign(**{c: spx[c].where(~later, spx[c] * 5) for c in ("ret", "ewma_vol", "rv_21", "rv_63")})
    changed = variance_forecasts(tiny.forecaster, shocked, TINY.seq_len, "SPX")
    assert truncated.index[-1] == cut
    assert_allclose(full[:cut].to_numpy(), truncated.to_numpy(), rtol=1e-6)
    assert_allclose(changed[:cut].to_numpy(), truncated.to_numpy(), rtol=1e-6)
    assert not np.allclose(changed[cut:].to_numpy()[1:], full[cut:].to_numpy()[1:])  # the check can fail


def test_series_with_too_little_training_history_are_left_out_and_forecast_zero_shot(subset):
    late = subset[(subset["symbol"] != "WTI") | (subset["date"] >= "2011-03-01")]
    result = train_lstm_vol(late, replace(TINY, train_end="2011-12-31"), fast_dev_run=True)
    assert result.symbols == ["EURUSD", "SPX", "UST10Y"]  # WTI: fewer than 250 returns by the split
    latest = forecast_latest(result.forecaster, late, result.symbols, 8).set_index("symbol")
    assert not latest.at["WTI", "seen_in_training"] and np.isfinite(latest.at["WTI", "variance"])
    assert set(result.evaluation.index) == {"EURUSD", "SPX", "UST10Y", "pooled"}  # WTI: no GARCH-t to score against


def test_the_exported_model_forecasts_an_unseen_series(tiny, subset, daily_features, tmp_path):
    """The pt2 program the registry stores (saved as mlflow.pytorch does it), loaded back with the metadata
    lstm_registration writes: a series outside the training series is forecast (zero-shot) by the risk engine's
    input and by the backtest's variance path."""
    from risk_platform.models.inference import lstm_outputs
    from risk_platform.models.registry import LoadedModel

    example = torch.from_numpy(build_sequences(subset, TINY.seq_len, "latest", pd.Timestamp.max).x)
    program = torch.export.export(tiny.forecaster, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    torch.export.save(program, tmp_path / "model.pt2")
    module = torch.export.load(tmp_path / "model.pt2").module()
    metadata = {"symbols": tiny.symbols, "seq_len": TINY.seq_len, "series_identity": False}
    loaded = LoadedModel(module, metadata, "risk_platform-lstm_vol", "1", "run", "experimental")
    universe = daily_features[daily_features["symbol"].isin(["SPX", "GOLD"])]
    outputs = lstm_outputs(loaded, universe)
    assert outputs["seen_in_training"].to_dict() == {"GOLD": False, "SPX": True}
    direct = forecast_latest(tiny.forecaster, universe, tiny.symbols, TINY.seq_len).set_index("symbol")
    assert_allclose(outputs["variance"], direct["variance"], rtol=1e-5)
    gold = variance_forecasts(loaded.module, universe, TINY.seq_len, "GOLD")
    assert np.isfinite(gold).all() and len(gold) > 5000
    with pytest.raises(InputError, match="^risk_platform-lstm_vol v2 was registered before the global LSTM"):
        require_global({"symbols": tiny.symbols, "seq_len": TINY.seq_len}, "risk_platform-lstm_vol v2")


def test_the_split_is_counted_back_from_the_data_and_moves_with_it(subset):
    assert split_for(subset, TINY).train_end == pd.Timestamp("2021-12-31")  # the panel ends 2024-12-31
    earlier = subset[subset["date"] <= "2023-06-30"]
    assert split_for(earlier, TINY).train_end == pd.Timestamp("2020-06-30")
    assert split_for(earlier, replace(TINY, test_years=1.5)).train_end == pd.Timestamp("2021-12-30")
    assert split_for(earlier, replace(TINY, train_end="2015-12-31")).train_end == pd.Timestamp("2015-12-31")


def test_a_two_year_history_is_trained_whole_and_not_evaluated_with_the_reason(subset):
    short = subset[(subset["date"] >= "2020-01-01") & (subset["date"] <= "2021-12-31")]
    result = train_lstm_vol(short, TINY, fast_dev_run=True)
    assert result.config.train_end == result.train_end == "2021-12-31" and result.evaluation.empty
    assert set(result.metrics) == {"train_seconds"}  # no validation metric: no promotion gate can pass on it
    assert result.validation.note.startswith("history 2020-01-02..2021-12-31 too short to hold out: 5")
    assert "not evaluated" in result.validation.note and refit_lstm_vol(short, result) is result


def test_a_history_too_short_for_the_full_hold_out_is_evaluated_on_what_is_left(subset):
    result = train_lstm_vol(subset[subset["date"] >= "2021-01-01"], TINY, fast_dev_run=True)
    note = result.validation.note
    assert note.startswith("history 2021-01-04..2024-12-31 too short to hold out 3 years: trained on its first 500")
    assert result.validation.evaluation_start > result.config.train_end > "2022-12-01"
    assert np.isfinite(result.metrics["qlike_ratio_to_ewma"])


@pytest.fixture(scope="module")
def refit(subset):
    through_2023 = subset[subset["date"] <= "2023-12-29"]
    evaluated = train_lstm_vol(through_2023, TINY)
    return through_2023, evaluated, refit_lstm_vol(through_2023, evaluated)


def test_the_refit_trains_on_every_day_and_carries_the_evaluation_fits_evidence(refit):
    data, evaluated, production = refit
    assert evaluated.config.train_end == evaluated.validation.train_end == "2020-12-29"
    assert production.config.train_end == production.train_end == "2023-12-29"  # the data's last date
    assert production.validation == evaluated.validation and production.evaluation is evaluated.evaluation
    assert production.evaluation_variances is evaluated.evaluation_variances  # the walk-forward evidence
    assert production.validation.evaluation_start > "2020-12-29" >= production.validation.train_start
    assert {k: v for k, v in production.metrics.items() if k != "refit_seconds"} == evaluated.metrics
    assert production.n_train > evaluated.n_train and production.config.epochs == evaluated.config.epochs
    last_origin = build_sequences(data, TINY.seq_len, "train", pd.Timestamp(production.train_end), 1).origin.max()
    assert pd.Timestamp(last_origin) > pd.Timestamp("2023-12-01")  # its training targets reach the last days
    x = build_sequences(data, TINY.seq_len, "latest", pd.Timestamp.max).x
    assert not np.allclose(predict(production.forecaster, x), predict(evaluated.forecaster, x))


def test_retraining_on_the_panel_extended_by_new_days_moves_train_end(refit, subset):
    _, evaluated, production = refit
    extended = subset[subset["date"] <= "2024-12-31"]
    again = refit_lstm_vol(extended, train_lstm_vol(extended, TINY, fast_dev_run=True), fast_dev_run=True)
    assert again.train_end == "2024-12-31" > production.train_end
    assert again.validation.train_end == "2021-12-31" > evaluated.validation.train_end


def test_training_windows_capped_by_a_seeded_draw_across_series_and_dates(subset):
    end = pd.Timestamp("2015-12-31")
    every = build_sequences(subset, 8, "train", end, 5)
    capped = build_sequences(subset, 8, "train", end, 5, max_windows=500, seed=3)
    assert len(capped.r2) == 500 < len(every.r2)
    assert set(capped.symbol) == set(every.symbol)  # every series drawn from
    again = build_sequences(subset, 8, "train", end, 5, max_windows=500, seed=3)
    assert_allclose(capped.x, again.x)
    assert not np.array_equal(build_sequences(subset, 8, "train", end, 5, max_windows=500, seed=4).origin,
                              capped.origin)
    # the drawn windows are windows of the full set, unchanged, spread over the dates
    full = {(s, o): i for i, (s, o) in enumerate(zip(every.symbol, every.origin, strict=True))}
    rows = [full[(s, o)] for s, o in zip(capped.symbol, capped.origin, strict=True)]
    assert_allclose(capped.x, every.x[rows])
    assert pd.Timestamp(capped.origin.min()).year <= 2002 and pd.Timestamp(capped.origin.max()).year == 2015
    assert len(build_sequences(subset, 8, "train", end, 5, max_windows=10**9).r2) == len(every.r2)


def test_training_stops_at_the_time_budget(subset):
    config = replace(TINY, epochs=10_000, sample_every=1, max_train_seconds=1.0, train_end="2015-12-31")
    fitted = lstm_module.fit_lstm_vol(subset, config)
    assert len(fitted.history) < 10_000
    assert fitted.seconds < 15.0  # 1 s budget, checked after every step


def test_variance_table_batched_over_series_matches_one_batch(subset, monkeypatch):
    result = train_lstm_vol(subset, replace(TINY, train_end="2015-12-31"), fast_dev_run=True)
    whole = lstm_module.variance_table(result.forecaster, subset, TINY.seq_len)
    monkeypatch.setattr(lstm_module, "SERIES_PER_BATCH", 1)
    batched = lstm_module.variance_table(result.forecaster, subset, TINY.seq_len)
    pd.testing.assert_frame_equal(batched, whole)
    assert list(whole.columns) == sorted(subset["symbol"].unique())
