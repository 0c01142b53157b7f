"""Validation: crisis-window backtests as static partitions (one per crisis of DESIGN.md), then the promotion
decision per model family with its report in MLflow. Each family asset retrains on data before its window
and backtests inside it; ``crisis_baselines`` evaluates HS, EWMA, GARCH-t and FHS (and, beside them, conditional
EVT over EWMA and GARCH-t) on the same book and days."""

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.metadata import (
    monitoring_metadata,
    promotion_check,
    promotion_metadata,
    table,
    window_validation_metadata,
)
from assets.models import MODEL_ASSETS
from resources import FeatureStoreResource, LineageResource, MlflowResource
from risk_platform.crisis_windows import CRISIS_WINDOWS, WINDOW_KEYS, crisis_window
from risk_platform.families import FAMILIES, ModelFamily
from risk_platform.lineage import git_sha
from risk_platform.models.governance import PromotionPolicy
from risk_platform.portfolio.positions import Portfolio
from risk_platform.validation import crisis
from risk_platform.validation.crisis import WindowValidation
from risk_platform.workflows.monitoring import monitor_lstm
from risk_platform.workflows.promotion import promote_families, validated_candidate, walk_forward_evidence

crisis_windows = dg.StaticPartitionsDefinition(list(WINDOW_KEYS))
ASSET_EXTRAS = ("candidate_version", "preset")  # what a family's window asset adds to the WindowValidation


class ValidationConfig(dg.Config):
    """``preset``: the training preset whose architecture is validated (``demo`` or ``full``);
    ``fast_dev_run``: one batch per training, for smoke tests."""

    preset: str = "demo"
    fast_dev_run: bool = False


class PromotionConfig(dg.Config):
    """The promotion policy (DESIGN.md, issue text): YAML file, or the defaults of ``PromotionPolicy``."""

    policy_path: str | None = None


def _book_exposure(portfolio: dict, market_panel: pd.DataFrame, instruments: pd.DataFrame) -> pd.Series:
    return crisis.book_exposure(Portfolio.from_dict(portfolio), market_panel, instruments)


def _windows(stored: dict[str, dict]) -> list[WindowValidation]:
    """The window validations of a partitioned asset (partition -> stored value), without the asset's extras."""
    return [WindowValidation.from_dict({k: v for k, v in value.items() if k not in ASSET_EXTRAS})
            for value in stored.values()]


VALIDATION_INS = {"daily_features": dg.AssetIn(), "portfolio": dg.AssetIn(), "market_panel": dg.AssetIn(),
                  "instruments": dg.AssetIn()}


@dg.asset(partitions_def=crisis_windows, group_name="validation", compute_kind="arch", ins=VALIDATION_INS)
def crisis_baselines(context: dg.AssetExecutionContext, daily_features: dict, portfolio: dict,
                     market_panel: pd.DataFrame, instruments: pd.DataFrame,
                     feature_store: FeatureStoreResource) -> dg.Output[dict]:
    """HS (500 days), EWMA-normal, GARCH(1,1)-t and FHS VaR/ES of the validation book through the window."""
    daily = feature_store.store().read(daily_features["table"], verify=True)
    exposure = _book_exposure(portfolio, market_panel, instruments)
    result = crisis.validate_baselines(daily, crisis_window(context.partition_key), exposure)
    return dg.Output(result.to_dict(), metadata=window_validation_metadata(result))


def validation_asset(family: ModelFamily) -> dg.AssetsDefinition:
    """A partitioned asset retraining ``family`` before its window and backtesting the book's VaR inside it."""

    @dg.asset(name=family.validation_asset_name, partitions_def=crisis_windows, group_name="validation",
              compute_kind="pytorch", description=family.validation_description,
              ins={**VALIDATION_INS, "candidate": dg.AssetIn(family.asset_name)})
    def family_validation(context: dg.AssetExecutionContext, config: ValidationConfig, daily_features: dict,
                          portfolio: dict, market_panel: pd.DataFrame, instruments: pd.DataFrame, candidate: dict,
                          feature_store: FeatureStoreResource) -> dg.Output[dict]:
        daily = feature_store.store().read(daily_features["table"], verify=True)
        exposure = _book_exposure(portfolio, market_panel, instruments)
        result = family.validate_window(daily, instruments, crisis_window(context.partition_key),
                                        exposure, config.preset, config.fast_dev_run)
        return dg.Output({**result.to_dict(), "candidate_version": candidate["version"], "preset": config.preset},
                         metadata=window_validation_metadata(result, family.judged_method))

    return family_validation


FAMILY_VALIDATIONS = [validation_asset(family) for family in FAMILIES.values()]
PROMOTION_INS = {**VALIDATION_INS, "crisis_baselines": dg.AssetIn(),
                 **{f.validation_asset_name: dg.AssetIn() for f in FAMILIES.values()}}


PROMOTION_CHECK = "promotion_gates"


@dg.asset(group_name="validation", compute_kind="mlflow", ins=PROMOTION_INS, deps=MODEL_ASSETS,
          check_specs=[dg.AssetCheckSpec(PROMOTION_CHECK, asset="model_promotion",
                                         description="Every version judged passed the promotion gates: WARN naming"
                                         " each refused version and the gates it failed.")])
def model_promotion(context: dg.AssetExecutionContext, config: PromotionConfig, daily_features: dict, portfolio: dict,
                    market_panel: pd.DataFrame, instruments: pd.DataFrame, feature_store: FeatureStoreResource,
                    mlflow: MlflowResource, lineage: LineageResource, **inputs: dict):
    """Per family: the crisis-window summary and the walk-forward evidence on the validation book, the report
    logged to MLflow (validation experiment, linked from the model version), then the promotion policy:
    ``experimental`` -> ``current`` if the gates pass, the replaced ``current`` -> ``stable`` after its period;
    every decision in the audit log."""
    policy = PromotionPolicy.from_yaml(config.policy_path) if config.policy_path else PromotionPolicy()
    registry = mlflow.registry()
    candidates = {k: validated_candidate(registry, f, inputs[f.validation_asset_name]) for k, f in FAMILIES.items()}
    daily = feature_store.store().read(daily_features["table"], verify=True)
    walk_forward = walk_forward_evidence(registry, candidates, daily,
                                         _book_exposure(portfolio, market_panel, instruments))
    promotion = promote_families(
        registry, mlflow.audit(), policy, candidates=candidates,
        windows={k: _windows(inputs[f.validation_asset_name]) for k, f in FAMILIES.items()},
        baselines=_windows(inputs["crisis_baselines"]),
        tags={"dagster_run_id": context.run_id, "dagster_asset_key": "model_promotion", "git_sha": git_sha(),
              "partition_key": "none"},
        actor=f"dagster run {context.run_id}", walk_forward=walk_forward)
    for decision in promotion.decisions:
        lineage.record(context, "model_promotion",
                       [FAMILIES[decision.model].validation_asset_name, "crisis_baselines"], decision.lineage_facts())
    yield dg.Output({"decisions": [d.to_dict() for d in promotion.decisions], "policy": policy.__dict__},
                    metadata=promotion_metadata(promotion))
    yield promotion_check(promotion, PROMOTION_CHECK)


@dg.asset(group_name="monitoring", compute_kind="mlflow", ins=VALIDATION_INS, deps=MODEL_ASSETS)
def model_monitoring(context: dg.AssetExecutionContext, daily_features: dict, portfolio: dict,
                     market_panel: pd.DataFrame, instruments: pd.DataFrame, feature_store: FeatureStoreResource,
                     mlflow: MlflowResource,
                     lineage: LineageResource) -> dg.Output[dict]:
    """Drift of the LSTM in production (``current``, else ``experimental``): rolling QLIKE against EWMA and the
    book's VaR99 exception rate; a breach is a monitoring failure in the audit log and makes the drift sensor
    request retraining. Shadow mode: the ``experimental`` version's forecasts beside ``current``'s, scored on
    the latest day, appended to the shadow log."""
    daily = feature_store.store().read(daily_features["table"], verify=True)
    monitoring = monitor_lstm(mlflow.pinned_registry(context.run_id), mlflow.audit(), mlflow.shadow_log(), daily,
                              _book_exposure(portfolio, market_panel, instruments), run_id=context.run_id,
                              actor=f"dagster run {context.run_id}")
    if monitoring.drift is not None:
        lineage.record(context, "model_monitoring", list(VALIDATION_INS), monitoring.lineage_facts())
    return dg.Output(monitoring.to_dict(), metadata=monitoring_metadata(monitoring))


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
