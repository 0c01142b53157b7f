"""The model assets through Dagster into a temporary MLflow store: training, registration, lineage."""

import hashlib
import json

import dagster as dg
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from assets import ALL_ASSETS, DATA_GROUPS
from resources import embedded_resources
from risk_platform.families import FAMILIES, MODEL_NAMES
from risk_platform.features.store import FeatureStore
from risk_platform.models.audit import AuditLog
from risk_platform.models.gnn import GNNConfig, forecaster_input
from risk_platform.models.inference import generated
from risk_platform.models.registry import LINEAGE_TAGS, ModelRegistry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    resources = embedded_resources(state)
    instance = dg.DagsterInstance.ephemeral()
    data = dg.materialize(ALL_ASSETS, selection=dg.AssetSelection.groups(*DATA_GROUPS),
                          resources=resources, instance=instance)
    assert data.success
    smoke = {"preset": "demo", "fast_dev_run": True}
    model_assets = dg.AssetSelection.groups("models")
    run_config = {"ops": {k: {"config": smoke} for k in ("lstm_vol_model", "gnn_corr_model", "gan_scenarios_model",
                                                          "vae_scenarios_model")}}
    result = dg.materialize(ALL_ASSETS, selection=model_assets, resources=resources,
                            instance=instance, run_config=run_config)
    return result, resources["mlflow"].registry(), data, state


def test_lstm_is_registered_with_lineage(trained):
    result, registry, data, state = trained
    assert result.success
    out = result.output_for_node("lstm_vol_model")
    version = registry.client.get_model_version(MODEL_NAMES["lstm_vol"], out["version"])
    assert registry.aliases("lstm_vol") == {"experimental": out["version"]}
    audit = AuditLog(state / "mlruns" / "alias_audit.jsonl").records("lstm_vol")
    assert [(r.alias, r.to_version, r.actor) for r in audit] == [("experimental", out["version"],
                                                                  f"dagster run {result.run_id}")]
    run = registry.run(out["run_id"])
    for tag in LINEAGE_TAGS:
        assert run.data.tags[tag]
    assert f"data_sha256 `{run.data.tags['data_sha256']}`" in version.description  # the version's page
    assert f"/runs/{result.run_id})" in version.description  # the Dagster run that trained it
    assert run.info.run_name == f"lstm_vol v{out['version']} data:{run.data.tags['data_sha256'][:8]}"
    assert run.data.tags["dagster_run_id"] == result.run_id
    assert run.data.tags["gx_validation_id"] != "unknown"
    assert run.inputs.dataset_inputs and run.inputs.dataset_inputs[0].dataset.digest
    assert {"qlike_lstm", "qlike_garch_t", "qlike_ewma"} <= set(run.data.metrics)
    artifacts = {a.path for a in registry.client.list_artifacts(out["run_id"], "plots")}
    assert "plots/loss_curves.png" in artifacts


def test_registered_lstm_round_trips(trained):
    result, registry, _, _ = trained
    loaded = registry.load("lstm_vol", "experimental")
    assert loaded.metadata["seq_len"] == 32 and len(loaded.metadata["symbols"]) == 28
    x = torch.rand(5, 32, 6) * 0.01 + 1e-3  # the raw step features of any series: no series identity
    out = loaded.module(x)
    assert out.shape == (5, 6) and torch.all(out[:, 0] > 0)
    assert torch.allclose(out[:, 1:4].sum(dim=1), torch.ones(5), atol=1e-5)
    assert np.all(np.diff(out[:, 4:].detach().numpy(), axis=1) >= 0)  # q10 <= q90


def test_the_registered_lstm_is_refit_through_the_panels_last_date_and_says_so_in_a_backtest(trained, capsys):
    from risk_platform import paths
    from risk_platform.cli import main

    _, registry, _, _ = trained
    code = main(["backtest", "--prices", str(paths.BUNDLED_PRICES), "--instruments", str(paths.BUNDLED_INSTRUMENTS),
                 "--symbol", "SPX", "--method", "lstm", "--confidence", "0.99", "--json", "--mlflow-uri",
                 registry.tracking_uri])
    err = capsys.readouterr().err
    assert code == 2, err  # the production version saw every day: nothing out of sample
    assert err.strip().endswith("was trained on data through 2024-12-31, past SPX's last day: no day left to"
                                " backtest it out of sample (its validation evidence: 'risk-platform models')"), err
    params = registry.run(registry.load("lstm_vol", "experimental").run_id).data.params
    assert params["train_end"] == "2024-12-31"  # the evaluation fit stops three years before the data end
    assert "2021-12-20" <= params["validation_train_end"] <= "2021-12-31"
    assert params["validation_train_end"] <= params["evaluation_start"] < params["evaluation_end"] <= "2024-12-31"


def test_a_registry_in_a_fresh_store_has_no_aliases(tmp_path):
    registry = ModelRegistry(f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "artifacts"))
    assert registry.aliases("lstm_vol") == {}


def test_gnn_is_registered_and_forecasts_a_valid_correlation(trained):
    result, registry, data, state = trained
    out = result.output_for_node("gnn_corr_model")
    assert registry.aliases("gnn_corr") == {"experimental": out["version"]}
    loaded = registry.load("gnn_corr", "experimental")
    store = FeatureStore(data.output_for_node("daily_features")["store_root"])
    daily = store.read("daily_features")
    config = GNNConfig.demo()
    _, inputs = forecaster_input(daily, loaded.metadata["symbols"], config)
    forecast = loaded.module(inputs).detach().numpy().astype(float)
    assert_allclose(forecast, forecast.T, atol=1e-6)
    assert_allclose(np.diag(forecast), 1.0, atol=1e-6)
    assert np.linalg.eigvalsh(forecast).min() > -1e-6


@pytest.mark.parametrize("key", ["gan_scenarios", "vae_scenarios"])
def test_generators_are_registered_and_sample_in_original_units(trained, key):
    result, registry, _, _ = trained
    out = result.output_for_node(f"{key.split('_')[0]}_scenarios_model")
    assert registry.aliases(key) == {"experimental": out["version"]}
    assert {"stress_disc_score", "fhs_stress_disc_score"} <= set(out["metrics"])
    loaded = registry.load(key, "experimental")
    k = len(loaded.metadata["symbols"])
    assert loaded.metadata["vol_input"] is True
    stress = generated(loaded, "high", 1000, seed=0)  # the regime's volatility state
    today = generated(loaded, "high", 1000, seed=0, volatility=np.full(k, 0.01))  # shocks x a given volatility
    assert stress.shape == today.shape == (1000, k) and np.isfinite(stress).all() and np.isfinite(today).all()
    shocks = generated(loaded, "high", 1000, seed=0, volatility=np.full(k, 1.0))
    assert_allclose(today, 0.01 * shocks, rtol=1e-4, atol=1e-9)  # the exported program scales the same shocks
    artifacts = {a.path for a in registry.client.list_artifacts(out["run_id"], "plots")}
    assert "plots/generated_vs_real_high_regime.png" in artifacts
    evaluation = {a.path for a in registry.client.list_artifacts(out["run_id"], "evaluation")}
    assert "evaluation/average_correlation_by_regime.csv" in evaluation
    assert out["metrics"]["stress_avg_corr_high_real"] > out["metrics"]["stress_avg_corr_low_real"]


def test_lineage_traces_a_model_and_the_risk_run_back_to_raw_file_hashes(trained, tmp_path):
    import json
    import subprocess
    import sys

    result, registry, data, state = trained
    out = result.output_for_node("lstm_vol_model")

    def lineage(identifier):
        done = subprocess.run([sys.executable, "-m", "risk_platform.cli", "lineage", identifier, "--json",
                               "--lineage-dir", f"{state}/lineage", "--mlflow-uri", registry.tracking_uri],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    model_chain = lineage(out["run_id"])  # an MLflow run id -> its Dagster run -> the data run behind it
    assert model_chain["mlflow_run"]["dagster_run_id"] == result.run_id
    assert model_chain["runs"] == [result.run_id, data.run_id]
    traced = {a["asset"]: a for a in model_chain["assets"]}
    assert traced["lstm_vol_model"]["facts"]["mlflow_run_id"] == out["run_id"]
    partitions = traced["daily_features"]["facts"]["partitions"]
    data_sha = hashlib.sha256("".join(p["sha256"] for p in partitions).encode()).hexdigest()
    assert traced["lstm_vol_model"]["facts"]["data_sha256"] == data_sha  # the model's data is that feature table
    assert len(traced["raw_prices"]["facts"]["files"][0]["sha256"]) == 64
    data_chain = lineage(data.run_id)  # the data run: risk figure back to the raw file
    assets = {a["asset"]: a for a in data_chain["assets"]}
    assert list(assets)[0] == "portfolio_risk" and assets["portfolio_risk"]["facts"]["var_99"] > 0
    raw_sha = assets["raw_prices"]["facts"]["files"][0]["sha256"]
    assert len(raw_sha) == 64 and assets["market_panel"]["facts"]["gx_validation_id"]
    assert assets["daily_features"]["facts"]["partitions"][0]["sha256"]
    done = subprocess.run([sys.executable, "-m", "risk_platform.cli", "lineage", "0123abcd-0000", "--lineage-dir",
                           str(tmp_path), "--mlflow-uri", registry.tracking_uri], capture_output=True, text=True)
    assert done.returncode == 2 and "neither a Dagster run" in done.stderr


VALIDATED_WINDOWS = ("svb_2023",)  # a window no model can be evaluated in: test_any_universe_pipeline


@pytest.fixture(scope="module")
def validated(trained):
    """One crisis window (smoke trainings, SVB), then the promotion decision, which counts the six others as not
    validated."""
    _, registry, _, state = trained
    resources = embedded_resources(state)
    smoke = {"preset": "demo", "fast_dev_run": True}
    families = ("lstm_vol", "gnn_corr", "gan_scenarios", "vae_scenarios")
    run_config = {"ops": {f"{f}_crisis_validation": {"config": smoke} for f in families}}
    windows = dg.AssetSelection.groups("validation") - dg.AssetSelection.assets("model_promotion")
    for key in VALIDATED_WINDOWS:
        run = dg.materialize(ALL_ASSETS, selection=windows, partition_key=key, resources=resources,
                             run_config=run_config)
        assert run.success
    promotion = dg.materialize(ALL_ASSETS, selection=dg.AssetSelection.assets("model_promotion",
                                                                              "lstm_explanations"),
                               resources=resources)
    return promotion, registry, state


def test_crisis_windows_train_only_before_the_window(validated):
    import json

    from risk_platform.crisis_windows import CRISIS_WINDOWS

    _, _, state = validated
    for window in (w for w in CRISIS_WINDOWS if w.key in VALIDATED_WINDOWS):
        for family in ("lstm_vol", "gnn_corr", "gan_scenarios", "vae_scenarios"):
            stored = json.loads((state / "assets" / f"{family}_crisis_validation" / f"{window.key}.json").read_text())
            assert stored["window"] == window.key
            if stored["status"] == "evaluated":
                assert stored["train_end"] < f"{window.start:%Y-%m-%d}", (family, window.key)
                methods = {family.split("_")[0], FAMILIES[family].judged_method}  # lstm: and evt_lstm
                assert {b["method"] for b in stored["backtests"]} == methods
                assert all(b["n"] > 0 for b in stored["backtests"])
            else:
                assert stored["status"].startswith("not evaluable: ")
        baselines = json.loads((state / "assets" / "crisis_baselines" / f"{window.key}.json").read_text())
        assert {b["method"] for b in baselines["backtests"]} == {"hs", "ewma", "garch", "fhs", "evt_ewma", "evt_garch"}


def test_promotion_logs_report_and_audits_every_decision(validated):
    promotion, registry, state = validated
    assert promotion.success
    decisions = promotion.output_for_node("model_promotion")["decisions"]
    assert [d["model"] for d in decisions] == ["lstm_vol", "gnn_corr", "gan_scenarios", "vae_scenarios"]
    audit = AuditLog(state / "mlruns" / "alias_audit.jsonl")
    for decision in decisions:
        key = decision["model"]
        run = registry.run(decision["validation_run_id"])
        assert run.data.tags["validated_version"] == decision["version"]
        assert {"red_windows_99", "kupiec_p_99", "windows_evaluated"} <= set(run.data.metrics)
        assert run.data.metrics["windows_total"] == 7
        assert run.data.metrics["windows_evaluated"] <= len(VALIDATED_WINDOWS)
        assert not decision["passed"] and "FAIL at least 5 crisis windows compared" in decision["gates"]
        files = {a.path for a in registry.client.list_artifacts(run.info.run_id, "validation_report")}
        assert {"validation_report/report.md", "validation_report/validation_report.html"} <= files
        assert any(f.endswith(".png") for f in files)
        version = registry.client.get_model_version(MODEL_NAMES[key], decision["version"])
        assert version.tags["validation_run_id"] == run.info.run_id
        assert version.tags["validation_status"] == ("passed" if decision["passed"] else "refused")
        events = [r for r in audit.records(key) if r.event.startswith("gates_")]
        assert events and events[-1].validation_run_id == run.info.run_id
        assert events[-1].event == ("gates_passed" if decision["passed"] else "gates_failed")
        assert (registry.aliases(key).get("current") == decision["version"]) == decision["passed"]


def test_explanations_are_logged_on_the_lstm_run(validated):
    promotion, registry, _ = validated
    out = promotion.output_for_node("lstm_explanations")
    files = {a.path for a in registry.client.list_artifacts(out["run_id"], "explanations")}
    assert {"explanations/shap_top_drivers.csv", "explanations/shap_mean_abs.png"} <= files
    assert len(out["dates"]) == 8 and all(v >= 0 for v in out["mean_abs"].values())


def test_risk_uses_every_aliased_version_and_monitoring_runs(validated):
    _, registry, state = validated
    resources = embedded_resources(state)
    run = dg.materialize(ALL_ASSETS, selection=dg.AssetSelection.assets("portfolio_risk", "model_monitoring"),
                         resources=resources)
    assert run.success
    report = run.output_for_node("portfolio_risk")
    expected = {f"{key} v{version} ({alias})" for key in MODEL_NAMES
                for alias, version in registry.aliases(key).items()}
    assert expected and expected <= set(report["model_versions"])
    labels = [name for name in report["methods"] if "[" in name]
    assert any(name.endswith("[experimental]") for name in labels)
    complete = [m["var_99"] for m in report["methods"].values() if m.get("complete", True)]
    assert report["var_99"] == pytest.approx(max(complete))  # limits bind to the most conservative figure
    monitoring = run.output_for_node("model_monitoring")
    assert monitoring["var_days"] == 250 and monitoring["qlike_days"] > 0
    events = [r.event for r in AuditLog(state / "mlruns" / "alias_audit.jsonl").records("lstm_vol")]
    assert events[-1] in ("monitoring_pass", "monitoring_failure")
    _assert_the_risk_run_traces_back_across_runs(run.run_id, registry, state, expected)


def _assert_the_risk_run_traces_back_across_runs(run_id, registry, state, versions_used) -> None:
    """From a risk run of its own (no data, no training in it), lineage reaches the training runs of every model
    version it used (with their data digests), the data run behind them, the GX validation and the raw files."""
    from risk_platform.lineage import LineageStore, trace

    chain = trace(LineageStore(state / "lineage"), run_id)
    assets = {a["asset"]: a["facts"] for a in chain["assets"]}
    training = assets["portfolio_risk"]["model_training"]
    assert {v.rsplit(" (", 1)[0] for v in versions_used} == set(training)
    for version, facts in training.items():
        key, number = version.rsplit(" v", 1)
        run = registry.client.get_run(registry.client.get_model_version(MODEL_NAMES[key], number).run_id)
        assert facts["mlflow_run_id"] == run.info.run_id and facts["data_sha256"] == run.data.tags["data_sha256"]
        assert facts["dagster_run_id"] in chain["runs"]  # the training run was followed
    assert chain["runs"][0] == run_id and len(chain["runs"]) >= 3  # the risk run, the trainings, the data run
    assert len(assets["raw_prices"]["files"][0]["sha256"]) == 64 and assets["market_panel"]["gx_validation_id"]
    assert {"lstm_vol_model", "daily_features"} <= set(assets)


def test_a_named_human_sets_current_and_the_new_experimental_runs_in_shadow(validated, capsys):
    """``risk-platform alias`` (audit-logged), then a retraining registers a new experimental version: the
    monitoring asset watches ``current`` and logs the experimental version's forecasts beside it."""
    from risk_platform.cli import main
    from risk_platform.models.shadow import read_shadow_log

    _, registry, state = validated
    resources = embedded_resources(state)
    audit_path = state / "mlruns" / "alias_audit.jsonl"
    first = registry.aliases("lstm_vol")["experimental"]
    common = ["--model", "lstm_vol", "--mlflow-uri", resources["mlflow"].tracking_uri, "--audit-log", str(audit_path)]
    assert main(["alias", *common, "--alias", "current", "--version", "99", "--by", "a.reviewer",
                 "--reason", "x"]) == 2
    assert "has no version 99" in capsys.readouterr().err
    assert main(["alias", *common, "--alias", "current", "--version", first, "--by", "a.reviewer",
                 "--reason", "committee approval despite COVID window", "--json"]) == 0
    move = json.loads(capsys.readouterr().out)
    assert (move["actor"], move["from_version"], move["to_version"]) == ("human:a.reviewer", None, first)
    assert AuditLog(audit_path).records("lstm_vol")[-1].reason == "committee approval despite COVID window"
    version = registry.client.get_model_version(MODEL_NAMES["lstm_vol"], first)
    assert version.tags["alias_history"].startswith("experimental -> current by human:a.reviewer at ")

    smoke = {"ops": {"lstm_vol_model": {"config": {"preset": "demo", "fast_dev_run": True}}}}
    retrain = dg.materialize(ALL_ASSETS, selection=["lstm_vol_model"], resources=resources, run_config=smoke)
    assert retrain.success
    aliases = registry.aliases("lstm_vol")
    assert aliases["current"] == first and aliases["experimental"] != first
    run = dg.materialize(ALL_ASSETS, selection=["model_monitoring"], resources=resources)
    assert run.success
    monitoring = run.output_for_node("model_monitoring")
    assert monitoring["alias"] == "current" and monitoring["version"] == first
    log = resources["mlflow"].shadow_log()
    (line,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert line["run_id"] == run.run_id and line["model"] == "lstm_vol"
    shadow = read_shadow_log(log)
    assert len(shadow) == 28 and set(shadow["current_version"]) == {first}
    assert set(shadow["experimental_version"]) == {aliases["experimental"]}
    assert (shadow["current"] > 0).all() and (shadow["experimental"] > 0).all()
    assert shadow["qlike_current"].notna().any()  # scored against the latest day's squared return
    assert f"experimental v{aliases['experimental']} vs current v{first}" in monitoring["shadow"]
