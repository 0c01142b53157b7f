"""Validation: crisis-window backtests as static partitions (one per crisis of DESIGN.md), then the promotion
decision per model family with its report in MLflow. Each family asset retrains on data before its window
and backtests inside it; ``crisis_baselines`` evaluates HS, EWMA, GARCH-t and FHS on the same book and days."""

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.metadata import table
from resources import FeatureStoreResource, LineageResource, MarketDataResource, MlflowResource
from risk_platform.crisis_windows import CRISIS_WINDOWS, WINDOW_KEYS, crisis_window
from risk_platform.lineage import git_sha
from risk_platform.models.generators import train_gan, train_vae
from risk_platform.models.governance import PromotionPolicy, apply_policy, evaluate_gates, record_monitoring
from risk_platform.models.registry import MODEL_NAMES
from risk_platform.models.shadow import append_shadow_log, monitoring_plan
from risk_platform.portfolio.positions import Portfolio
from risk_platform.validation import crisis
from risk_platform.validation.drift import lstm_drift, shadow_comparison
from risk_platform.validation.report import summarize_family, write_report

crisis_windows = dg.StaticPartitionsDefinition(list(WINDOW_KEYS))
FAMILY_ASSETS = {"lstm_vol": "lstm_vol_model", "gnn_corr": "gnn_corr_model",
                 "gan_scenarios": "gan_scenarios_model", "vae_scenarios": "vae_scenarios_model"}


class ValidationConfig(dg.Config):
    """``preset``: the training preset whose architecture is validated (``demo`` or ``full``);
    ``fast_dev_run``: one batch per training, for smoke tests."""

    preset: str = "demo"
    fast_dev_run: bool = False


class PromotionConfig(dg.Config):
    """The promotion policy (DESIGN.md, issue text): YAML file, or the defaults of ``PromotionPolicy``."""

    policy_path: str | None = None


def _inputs(context: dg.AssetExecutionContext, store: FeatureStoreResource, daily_features: dict,
            portfolio: dict, market_panel: pd.DataFrame, market_data: MarketDataResource):
    window = crisis_window(context.partition_key)
    daily = store.store().read(daily_features["table"], verify=True)
    exposure = crisis.book_exposure(Portfolio.from_dict(portfolio), market_panel, market_data.instruments())
    return window, daily, exposure


def _output(result: crisis.WindowValidation, extra: dict | None = None) -> dg.Output[dict]:
    rows = pd.DataFrame(result.backtests)
    shown = rows[["method", "alpha", "n", "exceptions", "expected_exceptions", "zone", "kupiec_p",
                  "christoffersen_p", "es_z2", "tick_loss"]].round(4) if len(rows) else pd.DataFrame(
        [{"status": result.status}])
    return dg.Output(
        {**result.to_dict(), **(extra or {})},
        metadata={"window": result.window, "status": result.status, "backtests": table(shown),
                  "trained_on": f"{result.train_start}..{result.train_end}" if result.train_start else "n/a",
                  **{k: round(v, 6) for k, v in result.metrics.items() if pd.notna(v)}},
    )


VALIDATION_INS = {"daily_features": dg.AssetIn(), "portfolio": dg.AssetIn(), "market_panel": dg.AssetIn()}


@dg.asset(partitions_def=crisis_windows, group_name="validation", compute_kind="arch", ins=VALIDATION_INS)
def crisis_baselines(context: dg.AssetExecutionContext, daily_features: dict, portfolio: dict,
                     market_panel: pd.DataFrame, feature_store: FeatureStoreResource,
                     market_data: MarketDataResource) -> dg.Output[dict]:
    """HS (500 days), EWMA-normal, GARCH(1,1)-t and FHS VaR/ES of the validation book through the window."""
    window, daily, exposure = _inputs(context, feature_store, daily_features, portfolio, market_panel, market_data)
    return _output(crisis.validate_baselines(daily, window, exposure))


def _family_asset(family: str, description: str):
    """A partitioned asset retraining ``family`` before its window and backtesting the book's VaR inside it."""

    @dg.asset(name=f"{family}_crisis_validation", partitions_def=crisis_windows, group_name="validation",
              compute_kind="pytorch", description=description,
              ins={**VALIDATION_INS, "candidate": dg.AssetIn(FAMILY_ASSETS[family])})
    def family_validation(context: dg.AssetExecutionContext, config: ValidationConfig, daily_features: dict,
                          portfolio: dict, market_panel: pd.DataFrame, candidate: dict,
                          feature_store: FeatureStoreResource, market_data: MarketDataResource) -> dg.Output[dict]:
        window, daily, exposure = _inputs(context, feature_store, daily_features, portfolio, market_panel,
                                          market_data)
        cfg = crisis.validation_configs(config.preset)[family]
        instruments = market_data.instruments()
        fast = config.fast_dev_run
        if family == "lstm_vol":
            result = crisis.validate_lstm(daily, window, exposure, cfg, fast_dev_run=fast)
        elif family == "gnn_corr":
            result = crisis.validate_gnn(daily, instruments, window, exposure, cfg, fast_dev_run=fast)
        else:
            train = train_gan if family == "gan_scenarios" else train_vae
            result = crisis.validate_generator(family, train, daily, instruments, window, exposure, cfg,
                                               fast_dev_run=fast)
        return _output(result, {"candidate_version": candidate["version"], "preset": config.preset})

    return family_validation


FAMILY_VALIDATIONS = [
    _family_asset("lstm_vol", "LSTM volatility forecaster retrained before the window: QLIKE against EWMA and"
                  " GARCH-t inside it, and the book's VaR with LSTM volatilities and EWMA correlations."),
    _family_asset("gnn_corr", "GNN correlation retrained before the window: Frobenius error against the sample"
                  " and EWMA correlations inside it, and the book's VaR with the GNN correlation."),
    _family_asset("gan_scenarios", "GAN retrained before the window: quality against the window's returns and"
                  " the book's VaR from regime-conditional scenarios."),
    _family_asset("vae_scenarios", "VAE retrained before the window: quality against the window's returns and"
                  " the book's VaR from regime-conditional scenarios."),
]


@dg.asset(group_name="validation", compute_kind="mlflow")
def model_promotion(context: dg.AssetExecutionContext, config: PromotionConfig, crisis_baselines: dict,
                    lstm_vol_crisis_validation: dict, gnn_corr_crisis_validation: dict,
                    gan_scenarios_crisis_validation: dict, vae_scenarios_crisis_validation: dict,
                    lstm_vol_model: dict, gnn_corr_model: dict, gan_scenarios_model: dict, vae_scenarios_model: dict,
                    mlflow: MlflowResource, lineage: LineageResource) -> dg.Output[dict]:
    """Per family: the crisis-window summary and report logged to MLflow (validation experiment, linked from
    the model version), then the promotion policy: ``experimental`` -> ``current`` if the gates pass, the
    replaced ``current`` -> ``stable`` after its period; every decision in the audit log."""
    policy = PromotionPolicy.from_yaml(config.policy_path) if config.policy_path else PromotionPolicy()
    baselines = [crisis.WindowValidation.from_dict(_strip(v)) for v in crisis_baselines.values()]
    registry, audit = mlflow.registry(), mlflow.audit()
    families = {"lstm_vol": lstm_vol_model, "gnn_corr": gnn_corr_model, "gan_scenarios": gan_scenarios_model,
                "vae_scenarios": vae_scenarios_model,
                "lstm_vol_crisis_validation": lstm_vol_crisis_validation,
                "gnn_corr_crisis_validation": gnn_corr_crisis_validation,
                "gan_scenarios_crisis_validation": gan_scenarios_crisis_validation,
                "vae_scenarios_crisis_validation": vae_scenarios_crisis_validation}
    decisions, zones = [], []
    for family in FAMILY_ASSETS:
        candidate = families[family]
        windows = [crisis.WindowValidation.from_dict(_strip(v))
                   for v in families[f"{family}_crisis_validation"].values()]
        summary = summarize_family(family, windows, baselines)
        metrics = {**_training_metrics(candidate, family), **summary.metrics}
        gates = evaluate_gates(family, metrics, policy)
        label = f"{MODEL_NAMES[family]} v{candidate['version']}"
        tags = {"dagster_run_id": context.run_id, "dagster_asset_key": "model_promotion", "git_sha": git_sha(),
                "partition_key": "none"}
        with tempfile.TemporaryDirectory() as tmp:
            files = write_report(Path(tmp), family, label, summary, windows, baselines, gates.reason)
            run_id = registry.log_validation(model_key=family, version=candidate["version"], metrics=metrics,
                                             tags=tags, artifacts=[(f, "validation_report") for f in files])
        gates, moves = apply_policy(registry, audit, family, candidate["version"], metrics, policy,
                                    actor=f"dagster run {context.run_id}", validation_run_id=run_id)
        decisions.append({"model": family, "version": candidate["version"], "passed": gates.passed,
                          "moves": ", ".join(f"{m.alias}: {m.from_version} -> {m.to_version}" for m in moves) or "none",
                          "validation_run_id": run_id, "report": f"runs:/{run_id}/validation_report/report.md",
                          "gates": gates.reason})
        lineage.record(context.run_id, "model_promotion", [f"{family}_crisis_validation", "crisis_baselines"],
                       {"model": family, "version": candidate["version"], "validation_run_id": run_id,
                        "passed": gates.passed, "aliases": registry.aliases(family)})
        zones.append(summary.table.assign(family=family))
    decided = pd.DataFrame(decisions)
    zone_table = pd.concat(zones).drop_duplicates(["window", "method", "alpha"])
    at99 = zone_table[zone_table["alpha"] == 0.99].pivot(index="window", columns="method", values="zone")
    return dg.Output(
        {"decisions": decisions, "policy": policy.__dict__},
        metadata={"decisions": table(decided.drop(columns="gates")),
                  "gates": dg.MetadataValue.md("\n".join(f"- **{d['model']} v{d['version']}**: {d['gates']}"
                                                         for d in decisions)),
                  "zones_99": table(at99.reset_index()),
                  "promoted": int(decided["passed"].sum())},
    )


def _strip(value: dict) -> dict:
    """A stored window validation without the asset's extra keys."""
    return {k: v for k, v in value.items() if k not in ("candidate_version", "preset")}


def _training_metrics(candidate: dict, family: str) -> dict[str, float]:
    """The candidate's own stress-regime figures (the generator gate reads them), from its training run."""
    if family not in ("gan_scenarios", "vae_scenarios"):
        return {}
    return {k: v for k, v in candidate["metrics"].items() if k.startswith("stress_")}


@dg.asset(group_name="monitoring", compute_kind="mlflow", ins=VALIDATION_INS)
def model_monitoring(context: dg.AssetExecutionContext, daily_features: dict, portfolio: dict,
                     market_panel: pd.DataFrame, feature_store: FeatureStoreResource,
                     market_data: MarketDataResource, mlflow: MlflowResource,
                     lineage: LineageResource) -> dg.Output[dict]:
    """Drift of the LSTM in production (``current``, else ``experimental``): rolling QLIKE against EWMA and the
    book's VaR99 exception rate; a breach is a monitoring failure in the audit log and makes the drift sensor
    request retraining. Shadow mode: the ``experimental`` version's forecasts beside ``current``'s, scored on
    the latest day, appended to the shadow log."""
    registry = mlflow.registry()
    plan = monitoring_plan(registry.aliases("lstm_vol"))
    if plan is None:
        return dg.Output({"status": "no LSTM version carries current or experimental"},
                         metadata={"drift_breach": False, "model_key": "lstm_vol", "status": "no version"})
    alias = plan.monitored
    monitored = registry.load("lstm_vol", alias)
    daily = feature_store.store().read(daily_features["table"], verify=True)
    exposure = crisis.book_exposure(Portfolio.from_dict(portfolio), market_panel, market_data.instruments())
    symbols, seq_len = monitored.metadata["symbols"], int(monitored.metadata["seq_len"])
    drift = lstm_drift(monitored.module, symbols, seq_len, daily, exposure, monitored.version)
    record_monitoring(mlflow.audit(), "lstm_vol", monitored.version, not drift.breach, drift.summary(),
                      actor=f"dagster run {context.run_id}")
    shadow_text = "no experimental version beside current"
    if plan.shadow:
        challenger = registry.load("lstm_vol", "experimental")
        comparison = shadow_comparison(monitored, challenger, daily)
        append_shadow_log(mlflow.shadow_log(), comparison, run_id=context.run_id)
        shadow_text = comparison.summary()
    lineage.record(context.run_id, "model_monitoring", ["daily_features", "portfolio", "market_panel"],
                   {"model": "lstm_vol", "version": monitored.version, "alias": alias, **drift.to_dict()})
    return dg.Output(
        {**drift.to_dict(), "alias": alias, "shadow": shadow_text},
        metadata={"drift_breach": drift.breach, "model_key": "lstm_vol", "monitored": f"v{monitored.version} ({alias})",
                  "qlike_ratio_to_ewma": round(drift.qlike_ratio, 4), "exceptions_99": drift.exceptions,
                  "zone_99": drift.zone, "kupiec_p_99": round(drift.kupiec_p, 4),
                  "summary": dg.MetadataValue.md(drift.summary()), "shadow": dg.MetadataValue.md(shadow_text)},
    )


@dg.asset(group_name="validation", compute_kind="shap", ins={"daily_features": dg.AssetIn(),
                                                              "candidate": dg.AssetIn("lstm_vol_model")})
def lstm_explanations(context: dg.AssetExecutionContext, daily_features: dict, candidate: dict,
                      feature_store: FeatureStoreResource, mlflow: MlflowResource) -> dg.Output[dict]:
    """SHAP (GradientExplainer) attributions of the LSTM's log-variance forecast to its input features, on the
    latest date and at each crisis window's start: top drivers per series, logged as artifacts
    (``explanations/``) of the version's training run."""
    from risk_platform.models.explain import explain_loaded

    registry = mlflow.registry()
    loaded = registry.load("lstm_vol", "experimental")
    daily = feature_store.store().read(daily_features["table"], verify=True)
    dates = [daily["date"].max(), *(w.start for w in CRISIS_WINDOWS)]
    explanation = explain_loaded(loaded, daily, dates)
    with tempfile.TemporaryDirectory() as tmp:
        for path in explanation.write_artifacts(Path(tmp)):
            registry.client.log_artifact(loaded.run_id, str(path), "explanations")
    latest = explanation.top_drivers()
    latest = latest[latest["date"] == latest["date"].max()] if "date" in latest else latest
    return dg.Output(
        {"version": loaded.version, "run_id": loaded.run_id, "dates": [f"{d:%Y-%m-%d}" for d in dates],
         "mean_abs": explanation.mean_abs().to_dict()},
        metadata={"model_version": loaded.version, "artifacts": f"runs:/{loaded.run_id}/explanations",
                  "mean_abs_shap": table(explanation.mean_abs().rename("mean_abs_shap").reset_index()),
                  "top_drivers_latest": table(latest),
                  "summary": dg.MetadataValue.md(explanation.to_markdown())},
    )


ASSETS = [crisis_baselines, *FAMILY_VALIDATIONS, model_promotion, model_monitoring, lstm_explanations]
