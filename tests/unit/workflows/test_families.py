"""The model-family table: the names the UI, the registry and the tests depend on, the configs per preset,
the gates and the metrics carried from training into promotion; a training run and the promotion loop
driven by the table, against a real (temporary) MLflow registry."""

from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest
import torch

from risk_platform.errors import InputError
from risk_platform.families import FAMILIES, MODEL_NAMES, model_family
from risk_platform.models.audit import AuditLog
from risk_platform.models.generators import GANConfig, VAEConfig
from risk_platform.models.gnn import GNNConfig
from risk_platform.models.governance import POLICY_GATES, PromotionPolicy
from risk_platform.models.lstm import LSTMConfig
from risk_platform.models.names import ALIAS_HISTORY_TAG, ARTIFACT_HASH_TAG
from risk_platform.models.registry import EXPERIMENT_KIND_TAG, LINEAGE_TAGS, ModelRegistry
from risk_platform.models.reports import Registration
from risk_platform.validation.crisis import WindowValidation
from risk_platform.workflows.promotion import Candidate, promote_families
from risk_platform.workflows.training import train_and_register


def test_names_stay_what_registries_and_the_ui_know():
    existing = ["lstm_vol", "gnn_corr", "gan_scenarios", "vae_scenarios"]
    assert list(FAMILIES)[:4] == existing  # a new family is appended
    assert MODEL_NAMES == {k: f"risk_platform-{k}" for k in FAMILIES}
    assert [FAMILIES[k].asset_name for k in existing] == ["lstm_vol_model", "gnn_corr_model", "gan_scenarios_model",
                                                          "vae_scenarios_model"]
    assert FAMILIES["gnn_corr"].validation_asset_name == "gnn_corr_crisis_validation"
    assert FAMILIES["lstm_vol"].runs_after == ("vol_baselines",)
    with pytest.raises(InputError, match="unknown model 'lstm'"):
        model_family("lstm")


def test_training_and_validation_configs_per_preset():
    assert FAMILIES["lstm_vol"].config("demo") == LSTMConfig.demo()
    assert FAMILIES["gnn_corr"].config("full") == GNNConfig.full()
    validation = {preset: {k: FAMILIES[k].validation_config(preset)
                           for k in ("lstm_vol", "gnn_corr", "gan_scenarios", "vae_scenarios")}
                  for preset in ("demo", "full")}
    assert validation["full"] == {"lstm_vol": LSTMConfig.full(epochs=10), "gnn_corr": GNNConfig.full(max_epochs=10),
                                  "gan_scenarios": GANConfig.full(max_epochs=300),
                                  "vae_scenarios": VAEConfig.full(max_epochs=200)}
    assert validation["demo"] == {"lstm_vol": LSTMConfig.demo(epochs=2), "gnn_corr": GNNConfig.demo(max_epochs=5),
                                  "gan_scenarios": GANConfig.demo(max_epochs=GANConfig.demo().max_epochs // 2),
                                  "vae_scenarios": VAEConfig.demo(max_epochs=VAEConfig.demo().max_epochs // 2)}
    with pytest.raises(InputError, match="unknown preset 'fast'"):
        FAMILIES["vae_scenarios"].config("fast")


def test_every_gate_reads_a_policy_setting_and_the_headlines_are_named():
    settings = {f.name for f in fields(PromotionPolicy)}
    for family in FAMILIES.values():
        assert family.gates and family.headline_metrics
        assert {g.setting for g in (*POLICY_GATES, *family.gates)} <= settings, family.key


def test_every_family_names_its_judged_method_and_has_walk_forward_evidence_or_says_why_not():
    from risk_platform.workflows.promotion import WALK_FORWARD_PRODUCERS

    for key, family in FAMILIES.items():
        assert family.judged_method and (key in WALK_FORWARD_PRODUCERS) != bool(family.no_walk_forward), key
        assert family.no_walk_forward == "" or key in family.no_walk_forward
    assert FAMILIES["lstm_vol"].judged_method == "evt_lstm"


def test_only_the_generators_carry_their_stress_figures_into_promotion():
    training = {"stress_var99_rel_err_60_40": 0.05, "fhs_stress_var99_rel_err_60_40": 0.02, "train_seconds": 3.0}
    assert FAMILIES["gan_scenarios"].training_metrics_for_gates(training) == {"stress_var99_rel_err_60_40": 0.05}
    assert FAMILIES["lstm_vol"].training_metrics_for_gates(training) == {}


def _registry(tmp_path):
    return ModelRegistry(f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "artifacts"))


def test_a_training_run_registers_the_familys_registration_and_moves_experimental(tmp_path, monkeypatch):
    """The whole path of a training asset with a stand-in model: params, metrics, artifacts, metadata, alias."""
    plot = tmp_path / "loss_curves.png"
    plot.write_bytes(b"png")

    def register(result, daily, instruments, folder):
        assert result == "trained on 3 rows" and folder.is_dir()
        return Registration(model=torch.nn.Linear(2, 1), input_example=np.zeros((2, 2), dtype=np.float32),
                            params={"epochs": 2}, metrics={"qlike_lstm": 1.5}, metadata={"symbols": ["A", "B"]},
                            artifacts=[(plot, "plots")], tables={"scores": pd.DataFrame({"m": [1.0]})})

    family = replace(FAMILIES["lstm_vol"], register=register,
                     train=lambda daily, instruments, config, fast_dev_run: f"trained on {len(daily)} rows")
    registry, audit = _registry(tmp_path), AuditLog(tmp_path / "audit.jsonl")
    registry.client.create_experiment(registry.experiment)  # as older releases made it: without the kind tag
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "http://dagster.example:3000/")
    monkeypatch.delenv("MLFLOW_UI_URL", raising=False)
    tags = {**{t: "x" for t in LINEAGE_TAGS}, "data_sha256": "c0ffee12" + "0" * 56, "dagster_run_id": "dagster-run-1"}
    daily = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=3), "ret": [0.0, 0.1, -0.1]})
    trained = train_and_register(family, registry, audit, daily, pd.DataFrame(), preset="demo", fast_dev_run=True,
                                 tags=tags, dataset_name="daily_features@abc", actor="dagster run r1")
    assert trained.to_dict() == {"model_uri": "models:/risk_platform-lstm_vol/1", "version": "1",
                                 "run_id": trained.version.run_id, "metrics": {"qlike_lstm": 1.5}}
    assert registry.aliases("lstm_vol") == {"experimental": "1"}
    assert [(r.alias, r.to_version, r.actor, r.validation_run_id) for r in audit.records()] == [
        ("experimental", "1", "dagster run r1", None)]  # a training run is no validation run
    run = registry.run(trained.version.run_id)
    assert run.data.params == {"epochs": "2", "preset": "demo"} and run.data.metrics == {"qlike_lstm": 1.5}
    assert run.info.run_name == "lstm_vol v1 data:c0ffee12"
    experiment = registry.client.get_experiment(run.info.experiment_id)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == "custom_model_development"
    version = registry.client.get_model_version(MODEL_NAMES["lstm_vol"], "1")
    assert set(version.tags) == {ARTIFACT_HASH_TAG, ALIAS_HISTORY_TAG}  # no lineage, window or metric tags
    assert version.tags[ALIAS_HISTORY_TAG].startswith("no alias -> experimental by dagster run r1 at ")
    page = version.description
    assert page.startswith("## risk_platform-lstm_vol v1\n") and "preset `demo`; trained on ?..?." in page
    assert f"data_sha256 `{tags['data_sha256']}`" in page and "`daily_features@abc` (MLflow digest" in page
    link = f"#/experiments/{experiment.experiment_id}/runs/{run.info.run_id}?workflowType=machine_learning"
    assert f"[training run lstm_vol v1 data:c0ffee12]({link})" in page
    assert "[Dagster run dagster-](http://dagster.example:3000/runs/dagster-run-1)" in page  # base read when called
    assert run.data.tags["mlflow.note.content"].startswith(  # the run's own description links back to the version
        "Trained [risk_platform-lstm_vol v1](#/models/risk_platform-lstm_vol/versions/1?workflowType=machine_learning)")
    assert trained.links == {"mlflow_version": "http://127.0.0.1:5000/#/models/risk_platform-lstm_vol/versions/1"
                                              "?workflowType=machine_learning",
                             "mlflow_training_run": f"http://127.0.0.1:5000/{link}"}
    assert {a.path for a in registry.client.list_artifacts(run.info.run_id, "plots")} == {"plots/loss_curves.png"}
    assert registry.load("lstm_vol", "experimental").metadata == {"symbols": ["A", "B"]}


def _evaluated(family: str, window: str, method: str, zone: str, **metrics) -> WindowValidation:
    row = {"method": method, "alpha": 0.99, "n": 100, "exceptions": 1, "expected_exceptions": 1.0, "zone": zone,
           "kupiec_p": 0.5, "christoffersen_p": 0.5, "conditional_coverage_p": 0.5, "es_z2": 0.0,
           "es_zone": "green", "tick_loss": 1.0}
    return WindowValidation(window, family, "evaluated", [row], metrics, [], "2001-01-01", "2008-01-01", 10)


def test_promotion_decides_every_family_in_table_order(tmp_path):
    registry, audit = _registry(tmp_path), AuditLog(tmp_path / "audit.jsonl")
    experiment = registry.client.create_experiment("training")
    for name in MODEL_NAMES.values():
        registry.client.create_registered_model(name)
        run = registry.client.create_run(experiment)
        registry.client.create_model_version(name, f"file://{tmp_path}/model", run.info.run_id)
    windows = {key: [] for key in FAMILIES}
    windows["lstm_vol"] = [_evaluated("lstm_vol", "svb_2023", "lstm", "green", qlike_lstm=1.0, qlike_ewma=1.1,
                                      qlike_garch_t=1.2)]
    candidates = {key: Candidate("1", {"stress_disc_score": 0.6, "train_seconds": 2.0}) for key in FAMILIES}
    promotion = promote_families(registry, audit, PromotionPolicy(), candidates, windows,
                                 [_evaluated("baselines", "svb_2023", "hs", "yellow")],
                                 tags={"dagster_run_id": "r1"}, actor="dagster run r1")
    assert [d.model for d in promotion.decisions] == list(FAMILIES)
    assert not any(d.passed for d in promotion.decisions) and {d.moves for d in promotion.decisions} == {"none"}
    assert promotion.zones_99().to_dict() == {"hs": {"svb_2023": "yellow"}, "lstm": {"svb_2023": "green"}}
    lstm = registry.run(promotion.decisions[0].validation_run_id)
    assert lstm.data.metrics["qlike_ratio_to_ewma"] == pytest.approx(1 / 1.1)
    assert "stress_disc_score" not in lstm.data.metrics
    gan = registry.run(promotion.decisions[2].validation_run_id)
    assert gan.data.metrics["stress_disc_score"] == 0.6 and "train_seconds" not in gan.data.metrics
    assert "FAIL stress-regime portfolio risk within 10% of historical" in promotion.decisions[2].gates
    assert [r.event for r in audit.records()] == ["gates_failed"] * len(FAMILIES)
    assert promotion.decisions[0].to_dict()["report"].endswith("/validation_report/validation_report.html")
    validation = registry.client.get_experiment(lstm.info.experiment_id)
    assert validation.tags[EXPERIMENT_KIND_TAG] == "custom_model_development"  # set on creation
    assert lstm.info.run_name == "validate lstm_vol v1 1 of 7 crisis windows"  # no walk-forward reached it
    for key, name in MODEL_NAMES.items():
        version = registry.client.get_model_version(name, "1")
        assert version.tags["validation_status"] == "refused" and "## Promotion decision: refused" in \
            version.description, key


def test_the_registered_lstm_is_refit_through_the_last_date_and_carries_its_validation_window(
        tmp_path, daily_features, instruments, bundled_prices_text, capsys):
    """The LSTM family's real training path: evaluated with the split counted back from the data's last date,
    then refit on every day; the registry, and `risk-platform models`, show both windows."""
    from risk_platform.cli import main
    from risk_platform.models.inference import trained_through

    daily = daily_features[daily_features["symbol"].isin(["SPX", "UST10Y", "EURUSD"])
                           & (daily_features["date"] <= "2023-12-29")]
    registry, audit = _registry(tmp_path), AuditLog(tmp_path / "audit.jsonl")
    trained = train_and_register(FAMILIES["lstm_vol"], registry, audit, daily, instruments, preset="demo",
                                 fast_dev_run=True, tags={t: "x" for t in LINEAGE_TAGS},
                                 dataset_name="daily_features@abc", actor="test")
    params = registry.run(trained.version.run_id).data.params
    assert (params["train_end"], params["validation_train_end"]) == ("2023-12-29", "2020-12-29")
    assert params["evaluation_start"] > "2020-12-29" and params["evaluation_end"] <= "2023-12-29"
    assert params["train_start"] <= params["validation_train_start"] and params["evaluation_note"] == "none"
    assert np.isfinite(trained.metrics["qlike_ratio_to_ewma"]) and "refit_seconds" in trained.metrics
    page = registry.client.get_model_version(MODEL_NAMES["lstm_vol"], "1").description  # the version's page
    assert (f"trained on {params['train_start']}..2023-12-29; evaluated: trained {params['validation_train_start']}"
            f"..2020-12-29, scored {params['evaluation_start']}..{params['evaluation_end']}.") in page
    assert trained_through([registry.load("lstm_vol", "experimental")]) == {"lstm_vol v1": "2023-12-29"}  # risk age
    uri = ["--mlflow-uri", registry.tracking_uri, "--audit-log", str(audit.path)]
    assert main(["models", "--model", "lstm_vol", *uri]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"lstm_vol v1 [experimental]: trained on {params['train_start']}..2023-12-29; evaluated: trained"
        f" {params['validation_train_start']}..2020-12-29, scored {params['evaluation_start']}.."
        f"{params['evaluation_end']}"]
    assert main(["models", "--json", *uri]) == 0
    [row] = __import__("json").loads(capsys.readouterr().out)["versions"]
    assert (row["model"], row["version"], row["train_end"]) == ("lstm_vol", "1", "2023-12-29")
    assert main(["models", "--model", "nope", *uri]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    prices = tmp_path / "spx.csv"  # SPX through the version's last training day: no day left out of sample
    text = bundled_prices_text[bundled_prices_text["symbol"] == "SPX"]
    text[text["date"] <= "2023-12-29"].to_csv(prices, index=False)
    assert main(["backtest", "--prices", str(prices), "--symbol", "SPX", "--method", "lstm", *uri]) == 2
    assert capsys.readouterr().err == ("risk-platform: error: risk_platform-lstm_vol v1 was trained on data through"
                                       " 2023-12-29, past SPX's last day: no day left to backtest it out of sample"
                                       " (its validation evidence: 'risk-platform models')\n")
