"""SHAP explanations of the LSTM's variance forecast: shapes, completeness, plumbing, exported models, artifacts."""

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from risk_platform.errors import InputError
from risk_platform.models.explain import ExplainConfig, explain_lstm, explain_result
from risk_platform.models.lstm import STEP_FEATURES, LSTMConfig, train_lstm_vol

TINY = LSTMConfig.demo(seq_len=8, hidden=8, epochs=1, sample_every=25, batch_size=256, train_end="2015-12-31")
SERIES = ["EURUSD", "SPX", "UST10Y", "WTI"]
DATES = ["2020-03-16", "2024-12-31"]


@pytest.fixture(scope="module")
def subset(daily_features):
    return daily_features[daily_features["symbol"].isin(SERIES)]


@pytest.fixture(scope="module")
def trained(subset):
    return train_lstm_vol(subset, TINY)


@pytest.fixture(scope="module")
def explanation(trained, subset):
    return explain_result(trained, subset, DATES, ExplainConfig(train_end=TINY.train_end, nsamples=400))


def test_attributions_are_finite_with_the_right_shape(explanation):
    frame = explanation.to_frame()
    assert len(frame) == len(DATES) * len(SERIES) * len(STEP_FEATURES)
    assert np.isfinite(frame["attribution"]).all()
    assert set(frame["feature"]) == set(STEP_FEATURES) and set(frame["series"]) == set(SERIES)
    for _, group in frame.groupby(["date", "series"]):
        assert sorted(group["abs_rank"]) == list(range(1, 7))
        top = group.sort_values("abs_rank")["attribution"].abs().to_numpy()
        assert (np.diff(top) <= 0).all()
    top = explanation.top_drivers(3)
    assert len(top) == len(DATES) * len(SERIES) * 3
    # lag buckets of an 8-day window: t, t-1..t-4, t-5..t-20; they add up to the per-feature totals
    assert set(explanation.by_lag["lag_bucket"]) == {"t", "t-1..t-4", "t-5..t-20"}
    summed = explanation.by_lag.groupby(["date", "series", "feature"])["attribution"].sum()
    assert_allclose(summed.sort_index().to_numpy(),
                    frame.set_index(["date", "series", "feature"])["attribution"].sort_index().to_numpy(), atol=1e-9)
    # 2020-03-16 is a trading day for every series: explained at that origin
    assert (explanation.forecasts.loc[explanation.forecasts["date"] == "2020-03-16", "origin"] == "2020-03-16").all()
    assert "SPX" in explanation.summary() and "| SPX |" in explanation.to_markdown()


def test_completeness_sum_equals_forecast_minus_baseline(explanation):
    """Expected gradients: attributions sum to f(x) - E[f(background)] up to sampling noise (with 400
    samples the gap stayed within 0.06 + 15% of the target over several seeds)."""
    f = explanation.forecasts
    target = f["log_variance"] - f["expected_log_variance"]
    assert (f["completeness_gap"].abs() <= 0.1 + 0.2 * target.abs()).all(), f
    assert np.corrcoef(f["attribution_sum"], target)[0, 1] > 0.95
    assert_allclose(f["completeness_gap"], f["attribution_sum"] - target, atol=1e-9)
    assert (np.sign(f["attribution_sum"]) == np.sign(target))[target.abs() > 0.2].all()


class _LastEwmaOnly(nn.Module):
    """A forecaster whose next-day variance is the last day's EWMA variance: only ewma_vol at lag 0 matters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x[:, -1, STEP_FEATURES.index("ewma_vol")] ** 2
        return torch.cat([variance.unsqueeze(-1), torch.ones(x.shape[0], 5)], dim=-1)


def test_attribution_lands_on_the_only_input_the_model_reads(subset):
    explanation = explain_lstm(_LastEwmaOnly(), subset, ["2020-03-16"], ExplainConfig(train_end="2015-12-31"),
                               seq_len=8)
    rows = explanation.by_lag
    used = (rows["feature"] == "ewma_vol") & (rows["lag_bucket"] == "t")
    assert (rows.loc[~used, "attribution"] == 0).all()
    assert (rows.loc[used, "attribution"].abs() > 0).all()
    # March 2020: vol far above the 2000-2015 background for the equity and oil series
    top = explanation.top_drivers(1).set_index("series")
    assert (top["feature"] == "ewma_vol").all() and top.loc["SPX", "attribution"] > 0.5


def test_exported_program_gives_the_same_attributions(trained, subset, tmp_path):
    """The registry loads pt2 programs (``torch.export.load(...).module()``, which refuses eval(); saved as
    mlflow.pytorch does it, batch dimension AUTO): explanations still work on them, with the same numbers."""
    from risk_platform.models.lstm import build_sequences

    example = torch.from_numpy(build_sequences(subset, TINY.seq_len, "latest", pd.Timestamp.max).x)
    program = torch.export.export(trained.forecaster, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    torch.export.save(program, tmp_path / "model.pt2")
    loaded = torch.export.load(tmp_path / "model.pt2").module()
    with pytest.raises(NotImplementedError):
        loaded.eval()
    config = ExplainConfig(train_end=TINY.train_end, nsamples=50)
    direct = explain_lstm(trained.forecaster, subset, DATES, config, seq_len=TINY.seq_len, series=["SPX", "UST10Y"])
    exported = explain_lstm(loaded, subset, DATES, config, seq_len=TINY.seq_len,
                            series=["SPX", "UST10Y"])
    assert_allclose(exported.to_frame()["attribution"], direct.to_frame()["attribution"], rtol=1e-4, atol=1e-6)


def test_background_is_point_in_time_and_seeded(trained, subset):
    config = ExplainConfig(train_end=TINY.train_end, nsamples=50)
    first = explain_result(trained, subset, ["2020-03-16"], config, series=["SPX"])
    later_data = subset[subset["date"] > "2016-06-30"].assign(rv_63=lambda d: d["rv_63"] * 3)
    changed = pd.concat([subset[subset["date"] <= "2016-06-30"], later_data])
    # the window explained moves with the data, the baseline (training windows before train_end) does not
    again = explain_result(trained, changed, ["2020-03-16"], config, series=["SPX"])
    assert_allclose(first.forecasts["expected_log_variance"], again.forecasts["expected_log_variance"])
    same = explain_result(trained, subset, ["2020-03-16"], config, series=["SPX"])
    assert_allclose(first.to_frame()["attribution"], same.to_frame()["attribution"])


def test_dates_without_history_are_skipped_or_rejected(trained, subset):
    with pytest.raises(InputError, match="nothing to explain"):
        explain_result(trained, subset, ["1999-01-04"], ExplainConfig(train_end=TINY.train_end))
    with pytest.raises(InputError, match=r"nothing to explain \(no rows in the feature table\)"):
        explain_result(trained, subset, DATES, series=["NOPE"])


def test_artifacts_are_written(explanation, tmp_path):
    written = explanation.write_artifacts(tmp_path / "explanations")
    names = {p.name for p in written}
    assert {"shap_attributions.csv", "shap_top_drivers.csv", "shap_by_lag.csv", "shap_mean_abs.png",
            "shap_heatmap.png", "shap_summary.md"} <= names
    assert all(p.stat().st_size > 0 for p in written)
    table = pd.read_csv(tmp_path / "explanations" / "shap_attributions.csv")
    assert list(table.columns) == ["date", "origin", "series", "feature", "attribution", "abs_rank"]
