"""The LSTM family's walk-forward evidence and its judged method: the evaluation fit's stored variances give the
validation book's forecasts after its training end only (leakage: later data change no earlier forecast), the
promotion reads them from the version's training run (real MLflow store) and its coverage gates show figures, a
family without a producer fails them naming why, and the crisis validation scores ``evt_lstm``, which the policy
judges. Real bundled data, a tiny LSTM (one batch)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from risk_platform.crisis_windows import crisis_window
from risk_platform.families import FAMILIES
from risk_platform.models.audit import AuditLog
from risk_platform.models.governance import PromotionPolicy, evaluate_gates
from risk_platform.models.lstm import LSTMConfig, train_lstm_vol, variance_table
from risk_platform.models.registry import ModelRegistry
from risk_platform.models.reports import EVALUATION_FOLDER, EVALUATION_VARIANCES, lstm_registration
from risk_platform.validation import crisis
from risk_platform.validation.report import summarize_family
from risk_platform.workflows.promotion import Candidate, decide, lstm_walk_forward, walk_forward_evidence

TINY = LSTMConfig.demo(seq_len=8, hidden=8, epochs=1, sample_every=25, batch_size=256)
LSTM = FAMILIES["lstm_vol"]
EXPOSURE = pd.Series({"SPX": 1e6, "UST10Y": -2e3, "EURUSD": 5e5})  # USD per unit log return; USD per bp
ALPHAS = (0.99, 0.975)


@pytest.fixture(scope="module")
def daily(daily_features) -> pd.DataFrame:
    return daily_features[daily_features["symbol"].isin(list(EXPOSURE.index))
                          & (daily_features["date"] <= "2023-12-29")].reset_index(drop=True)


@pytest.fixture(scope="module")
def evaluated(daily):
    return train_lstm_vol(daily, TINY, fast_dev_run=True)


def test_walk_forward_forecasts_only_after_the_training_end_and_no_later_day_changes_them(daily, evaluated):
    train_end = pd.Timestamp(evaluated.validation.train_end)
    forecasts = crisis.walk_forward_forecasts(evaluated.evaluation_variances, daily, EXPOSURE, train_end, ALPHAS)
    assert {(f.method, f.alpha) for f in forecasts} == {(m, a) for m in ("lstm", "evt_lstm", "hs", "ewma", "garch",
                                                                        "fhs", "evt_ewma", "evt_garch") for a in ALPHAS}
    for f in forecasts:
        assert f.dates.min() > train_end and f.dates.max() == pd.Timestamp("2023-12-29"), f.method
        assert np.all(np.isfinite(f.var) & (f.var > 0)), f.method
    cut = pd.Timestamp("2022-06-30")
    later = daily["date"] > cut
    perturbed = daily.copy()
    numeric = [c for c in daily.columns if c not in ("date", "symbol") and pd.api.types.is_float_dtype(daily[c])]
    perturbed.loc[later, numeric] = perturbed.loc[later, numeric] * 3.0
    again = crisis.walk_forward_forecasts(variance_table(evaluated.forecaster, perturbed, TINY.seq_len), perturbed,
                                          EXPOSURE, train_end, ALPHAS)
    for before, after in zip(forecasts, again, strict=True):
        early = before.dates <= cut
        assert np.allclose(before.var[early], after.var[after.dates <= cut]), before.method
        assert not np.allclose(before.var[~early], after.var[after.dates > cut]), before.method


def test_the_lstm_registration_stores_the_evaluation_fits_variances(tmp_path, daily, instruments, evaluated):
    registration = lstm_registration(evaluated, daily, instruments, tmp_path)
    [stored] = [path for path, folder in registration.artifacts if path.name == EVALUATION_VARIANCES]
    assert (stored.parent, registration.params["validation_train_end"]) == (tmp_path, evaluated.validation.train_end)
    pd.testing.assert_frame_equal(pd.read_parquet(stored), evaluated.evaluation_variances)
    assert set(evaluated.evaluation_variances.columns) == set(EXPOSURE.index)


def _version(registry: ModelRegistry, experiment: str, params: dict[str, str], artifacts: list[Path]) -> str:
    """A registered LSTM version whose training run holds ``params`` and ``artifacts`` (under evaluation/)."""
    run = registry.client.create_run(experiment).info.run_id
    for key, value in params.items():
        registry.client.log_param(run, key, value)
    for path in artifacts:
        registry.client.log_artifact(run, str(path), EVALUATION_FOLDER)
    return str(registry.client.create_model_version(LSTM.registered_name, "file:///unused", run).version)


def test_the_promotion_reads_the_registered_versions_walk_forward_and_gates_on_its_figures(
        tmp_path, daily, evaluated):
    registry, audit = (ModelRegistry(f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "artifacts")),
                       AuditLog(tmp_path / "audit.jsonl"))
    experiment = registry.client.create_experiment("training")
    registry.client.create_registered_model(LSTM.registered_name)
    evaluated.evaluation_variances.to_parquet(tmp_path / EVALUATION_VARIANCES)
    train_end = {"validation_train_end": evaluated.validation.train_end}
    assert _version(registry, experiment, train_end, [tmp_path / EVALUATION_VARIANCES]) == "1"
    candidates = {key: Candidate("1", {}) for key in FAMILIES}
    evidence = walk_forward_evidence(registry, candidates, daily, EXPOSURE)
    lstm = evidence["lstm_vol"]
    assert lstm.missing == "" and min(f.dates.min() for f in lstm.forecasts) > pd.Timestamp("2020-12-29")
    decision, _ = decide(LSTM, registry, audit, PromotionPolicy(), candidates["lstm_vol"], [], [], tags={},
                         actor="test", walk_forward=lstm)
    coverage = [c for c in decision.gates.split("; ") if "walk-forward" in c]
    assert len(coverage) == 4 and all(" = " in c and "missing" not in c for c in coverage), coverage
    metrics = registry.run(decision.validation_run_id).data.metrics
    assert metrics["oos_days_99"] == len(next(f for f in lstm.forecasts if f.method == "evt_lstm"
                                              and f.alpha == 0.99).dates)
    gnn = evaluate_gates(FAMILIES["gnn_corr"].gates, {}, PromotionPolicy(), evidence["gnn_corr"].missing)
    assert ("FAIL Kupiec bootstrap p at 99% over the walk-forward out-of-sample period above 0.05: metric"
            " oos_kupiec_p_boot_99 missing (no walk-forward out-of-sample book forecasts for gnn_corr: its evaluation"
            " split is scored on correlation error, not the book's VaR)") in gnn.checks
    bare = _version(registry, experiment, train_end, [])  # registered without the table
    run_id = registry.client.get_model_version(LSTM.registered_name, bare).run_id
    assert lstm_walk_forward(registry, bare, daily, EXPOSURE).missing == (
        f"lstm_vol v2: training run {run_id} has no readable evaluation/evaluation_variances.parquet"
        " (MlflowException): retrain it")
    unevaluated = _version(registry, experiment, {"validation_train_end": "none", "evaluation_note": "too short"}, [])
    assert lstm_walk_forward(registry, unevaluated, daily, EXPOSURE).missing == (
        "lstm_vol v3 was not evaluated out of sample (too short)")
    short = lstm_walk_forward(registry, "1", daily, EXPOSURE[["SPX"]].rename({"SPX": "WTI"}))
    assert short.missing == "lstm_vol v1: the evaluation fit has no variance forecasts of WTI (book factors)"


def test_the_crisis_validation_scores_evt_lstm_and_the_policy_judges_it(daily):
    window = crisis_window("svb_2023")
    result = crisis.validate_lstm(daily, window, EXPOSURE, TINY, fast_dev_run=True)
    methods = {b["method"] for b in result.backtests}
    assert methods == {"lstm", "evt_lstm"} and {"var_lstm", "var_evt_lstm"} <= set(result.series[0])
    assert all(window.start <= pd.Timestamp(r["date"]) <= window.end for r in result.series)
    baselines = crisis.validate_baselines(daily, window, EXPOSURE)
    summary = summarize_family("lstm_vol", [result], [baselines], LSTM.window_metrics, method=LSTM.judged_method)
    rows = summary.comparisons.set_index("method")
    best = rows.at[rows["best_baseline"].iloc[0], "exceptions"]
    assert summary.metrics["crisis_excess_exceptions_99"] == rows.at["evt_lstm", "exceptions"] - best
    assert LSTM.judged_method == "evt_lstm" and "lstm" in rows.index  # shown beside it, not judged
