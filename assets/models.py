"""Models: baseline volatility fits and one thin asset per model family of
:data:`~risk_platform.families.FAMILIES`, each trained, logged to MLflow and registered; the
``experimental`` alias moves to the new version through the audited governance path."""

import hashlib

import dagster as dg
import pandas as pd

from assets.metadata import latest_gx_validation_id, model_version_metadata, table
from resources import FeatureStoreResource, LineageResource, MlflowResource
from risk_platform.families import FAMILIES, ModelFamily
from risk_platform.lineage import git_sha
from risk_platform.models.baselines import garch_parameters
from risk_platform.workflows.training import NEW_VERSION_ALIAS, TrainedVersion, train_and_register

DAILY_TABLE = "daily_features"


class TrainingConfig(dg.Config):
    """``preset``: ``demo`` (small, minutes on a laptop) or ``full`` (the real training, weekly).
    ``fast_dev_run``: one batch only, for smoke tests."""

    preset: str = "demo"
    fast_dev_run: bool = False


def feature_data(store: FeatureStoreResource, manifest: dict) -> tuple[pd.DataFrame, str]:
    """The feature table the manifest describes, and one sha256 over its partitions' hashes (lineage)."""
    digest = hashlib.sha256("".join(p["sha256"] for p in manifest["partitions"]).encode()).hexdigest()
    return store.store().read(manifest["table"], verify=True), digest


def lineage_tags(context: dg.AssetExecutionContext, data_sha256: str,
                 gx_validation_id: str | None = None) -> dict[str, str]:
    """The tags every MLflow run carries, with the GX validation behind the market panel it was built on."""
    gx_id = gx_validation_id or latest_gx_validation_id(context)
    return {
        "dagster_run_id": context.run_id,
        "dagster_asset_key": context.asset_key.to_user_string(),
        "partition_key": context.partition_key if context.has_partition_key else "none",
        "git_sha": git_sha(),
        "data_sha256": data_sha256,
        "gx_validation_id": gx_id,
    }


def record_lineage(context: dg.AssetExecutionContext, lineage: LineageResource, trained: TrainedVersion,
                   tags: dict[str, str]) -> None:
    """The model's lineage: its MLflow run and version, the feature data (the run that built it: the resource)."""
    version = trained.version
    lineage.record(context, context.asset_key.to_user_string(), [DAILY_TABLE],
                   {"mlflow_run_id": version.run_id, "model_uri": version.model_uri, "alias": NEW_VERSION_ALIAS,
                    "data_sha256": tags["data_sha256"], "gx_validation_id": tags["gx_validation_id"]})


@dg.asset(group_name="models", compute_kind="arch")
def vol_baselines(daily_features: dict, feature_store: FeatureStoreResource) -> dg.Output[pd.DataFrame]:
    """GARCH(1,1)-t parameters per series, fitted on every return up to the panel's last date: the production
    fit, like the registered models' refit (each evaluation refits GARCH-t at its own split; EWMA needs no fit)."""
    daily, _ = feature_data(feature_store, daily_features)
    train_end = pd.Timestamp(daily["date"].max())
    params = garch_parameters(daily, train_end)
    return dg.Output(params, metadata={"train_end": str(train_end.date()), "garch_t": table(params)})


def model_asset(family: ModelFamily) -> dg.AssetsDefinition:
    """The training asset of ``family``: train with the configured preset, register, move ``experimental``."""

    @dg.asset(name=family.asset_name, group_name="models", compute_kind="pytorch", description=family.description,
              deps=list(family.runs_after))
    def model(context: dg.AssetExecutionContext, config: TrainingConfig, daily_features: dict,
              instruments: pd.DataFrame, feature_store: FeatureStoreResource, mlflow: MlflowResource,
              lineage: LineageResource) -> dg.Output[dict]:
        daily, data_sha = feature_data(feature_store, daily_features)
        tags = lineage_tags(context, data_sha, daily_features.get("gx_validation_id"))
        trained = train_and_register(family, mlflow.registry(), mlflow.audit(), daily, instruments,
                                     preset=config.preset, fast_dev_run=config.fast_dev_run, tags=tags,
                                     dataset_name=f"{DAILY_TABLE}@{data_sha[:12]}",
                                     actor=f"dagster run {context.run_id}")
        record_lineage(context, lineage, trained, tags)
        return dg.Output(trained.to_dict(), metadata=model_version_metadata(trained))

    return model


ASSETS = [vol_baselines, *(model_asset(family) for family in FAMILIES.values())]
MODEL_ASSETS = [family.asset_name for family in FAMILIES.values()]  # for steps that must run after every training
