"""Models: baseline volatility fits and one thin asset per ML model, each trained, logged to MLflow and
registered; the ``experimental`` alias moves to the new version through the audited governance path."""

import hashlib
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.metadata import latest_gx_validation_id, table
from resources import FeatureStoreResource, LineageResource, MarketDataResource, MlflowResource
from risk_platform.lineage import git_sha
from risk_platform.models.baselines import garch_parameters
from risk_platform.models.generators import GANConfig, VAEConfig, train_gan, train_vae
from risk_platform.models.gnn import GNNConfig, train_gnn_corr
from risk_platform.models.governance import move_alias
from risk_platform.models.lstm import STEP_FEATURES, LSTMConfig, train_lstm_vol
from risk_platform.models.registry import RegisteredVersion
from risk_platform.models.reports import generator_report, gnn_report, lstm_report

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


def publish(context: dg.AssetExecutionContext, mlflow: MlflowResource, lineage: LineageResource, model_key: str,
            version: RegisteredVersion, tags: dict[str, str]) -> None:
    """Point ``experimental`` at the new version (audited) and record the model's lineage."""
    move_alias(mlflow.registry(), mlflow.audit(), model_key, "experimental", version.version, "new training run",
               actor=f"dagster run {context.run_id}", validation_run_id=version.run_id)
    features = context.instance.get_latest_materialization_event(dg.AssetKey("daily_features"))
    lineage.record(context.run_id, context.asset_key.to_user_string(), ["daily_features"],
                   {"mlflow_run_id": version.run_id, "model_uri": version.model_uri, "alias": "experimental",
                    "data_sha256": tags["data_sha256"], "gx_validation_id": tags["gx_validation_id"],
                    "upstream_runs": {"daily_features": features.run_id if features else context.run_id}})


def version_metadata(version: RegisteredVersion, metrics: dict[str, float]) -> dict:
    return {
        "model_uri": version.model_uri,
        "model_version": version.version,
        "mlflow_run_id": version.run_id,
        "alias": "experimental",
        **{k: round(v, 6) for k, v in metrics.items()},
    }


@dg.asset(group_name="models", compute_kind="arch")
def vol_baselines(daily_features: dict, feature_store: FeatureStoreResource) -> dg.Output[pd.DataFrame]:
    """GARCH(1,1)-t parameters per series, fitted on the LSTM's training window (EWMA needs no fit)."""
    daily, _ = feature_data(feature_store, daily_features)
    train_end = pd.Timestamp(LSTMConfig.demo().train_end)
    params = garch_parameters(daily, train_end)
    return dg.Output(params, metadata={"train_end": str(train_end.date()), "garch_t": table(params)})


@dg.asset(group_name="models", compute_kind="pytorch", deps=[vol_baselines])
def lstm_vol_model(context: dg.AssetExecutionContext, config: TrainingConfig, daily_features: dict,
                   feature_store: FeatureStoreResource, mlflow: MlflowResource,
                   lineage: LineageResource) -> dg.Output[dict]:
    """LSTM volatility + regime forecaster across all series; scored out of sample against GARCH-t and EWMA."""
    daily, data_sha = feature_data(feature_store, daily_features)
    cfg = LSTMConfig.full() if config.preset == "full" else LSTMConfig.demo()
    result = train_lstm_vol(daily, cfg, fast_dev_run=config.fast_dev_run)
    tags = lineage_tags(context, data_sha, daily_features.get("gx_validation_id"))
    with tempfile.TemporaryDirectory() as tmp:
        report = lstm_report(result, daily, Path(tmp))
        version = mlflow.registry().log_training(
            model_key="lstm_vol", model=result.forecaster, input_example=report.input_example,
            params={**cfg.__dict__, "symbols": ",".join(result.symbols), "n_train": result.n_train},
            metrics=result.metrics, tags=tags, dataset=daily,
            dataset_name=f"{DAILY_TABLE}@{data_sha[:12]}", artifacts=report.artifacts,
            metadata={"symbols": result.symbols, "seq_len": cfg.seq_len, "features": list(STEP_FEATURES),
                      "train_end": cfg.train_end})
    publish(context, mlflow, lineage, "lstm_vol", version, tags)
    comparison = result.evaluation.reset_index(names="series")[
        ["series", "qlike_lstm", "qlike_garch_t", "qlike_ewma", "mse_lstm", "mse_garch_t", "mse_ewma", "n"]]
    return dg.Output(
        {"model_uri": version.model_uri, "version": version.version, "run_id": version.run_id,
         "metrics": result.metrics},
        metadata={**version_metadata(version, result.metrics), "out_of_sample_vs_baselines": table(comparison)},
    )


@dg.asset(group_name="models", compute_kind="pytorch")
def gnn_corr_model(context: dg.AssetExecutionContext, config: TrainingConfig, daily_features: dict,
                   feature_store: FeatureStoreResource, market_data: MarketDataResource,
                   mlflow: MlflowResource, lineage: LineageResource) -> dg.Output[dict]:
    """GNN (GATConv) forecast of the next 21 days' correlation matrix; scored against the 63-day sample and
    EWMA correlations (Frobenius error, 2020-2024)."""
    daily, data_sha = feature_data(feature_store, daily_features)
    cfg = GNNConfig.full() if config.preset == "full" else GNNConfig.demo()
    result = train_gnn_corr(daily, market_data.instruments(), cfg, fast_dev_run=config.fast_dev_run)
    tags = lineage_tags(context, data_sha, daily_features.get("gx_validation_id"))
    with tempfile.TemporaryDirectory() as tmp:
        report = gnn_report(result, daily, Path(tmp))
        version = mlflow.registry().log_training(
            model_key="gnn_corr", model=result.forecaster(), input_example=report.input_example,
            params={**cfg.__dict__, "n_train": result.n_train, "train_start": str(result.train_start.date())},
            metrics=result.metrics, tags=tags, dataset=daily,
            dataset_name=f"{DAILY_TABLE}@{data_sha[:12]}", artifacts=report.artifacts,
            metadata={"symbols": list(result.symbols), "corr_windows": list(cfg.corr_windows),
                      "horizon": cfg.horizon, "n_lags": cfg.n_lags})
    publish(context, mlflow, lineage, "gnn_corr", version, tags)
    scores = pd.DataFrame([{"method": m, "mean_frobenius_error": result.metrics[f"frobenius_{m}"]}
                           for m in ("gnn", "sample63", "ewma")])
    return dg.Output(
        {"model_uri": version.model_uri, "version": version.version, "run_id": version.run_id,
         "metrics": result.metrics},
        metadata={**version_metadata(version, result.metrics), "out_of_sample_vs_baselines": table(scores)},
    )


def _generator_asset(model_key: str, name: str, train, config_cls, description: str):
    """One asset per generator (GAN, VAE): train, evaluate in the stress regime beside FHS, register."""

    @dg.asset(name=f"{name}_scenarios_model", group_name="models", compute_kind="pytorch", description=description)
    def generator_model(context: dg.AssetExecutionContext, config: TrainingConfig, daily_features: dict,
                        feature_store: FeatureStoreResource, market_data: MarketDataResource,
                        mlflow: MlflowResource, lineage: LineageResource) -> dg.Output[dict]:
        daily, data_sha = feature_data(feature_store, daily_features)
        cfg = config_cls.full() if config.preset == "full" else config_cls.demo()
        result = train(daily, cfg, fast_dev_run=config.fast_dev_run)
        tags = lineage_tags(context, data_sha, daily_features.get("gx_validation_id"))
        with tempfile.TemporaryDirectory() as tmp:
            report, quality = generator_report(name, result, daily, market_data.instruments(), Path(tmp))
            metrics = {**result.metrics, **{f"stress_{k}": float(v) for k, v in quality[name].items()},
                       **{f"fhs_stress_{k}": float(v) for k, v in quality["fhs"].items()}}
            version = mlflow.registry().log_training(
                model_key=model_key, model=result.sampler, input_example=report.input_example,
                params={**cfg.__dict__, "n_train": result.n_train, "train_start": str(result.train_start.date())},
                metrics=metrics, tags=tags, dataset=daily,
                dataset_name=f"{DAILY_TABLE}@{data_sha[:12]}", artifacts=report.artifacts,
                metadata={"symbols": result.symbols, "latent_dim": result.sampler.latent_dim,
                          "vol_input": result.sampler.vol is not None,
                          "input": "[noise (latent_dim), one-hot regime (low, normal, high)] then, when vol_input,"
                                   " [log volatility per series (k), weight (1): 0 = the regime's volatility"
                                   " state, 1 = the given volatility]",
                          "output": "one-day returns in original units (log returns; bp for yields)"})
        publish(context, mlflow, lineage, model_key, version, tags)
        return dg.Output(
            {"model_uri": version.model_uri, "version": version.version, "run_id": version.run_id,
             "metrics": metrics},
            metadata={**version_metadata(version, result.metrics),
                      "stress_quality_vs_fhs": table(quality.reset_index(names="metric"))},
        )

    return generator_model


gan_scenarios_model = _generator_asset(
    "gan_scenarios", "gan", train_gan, GANConfig,
    "Conditional WGAN-GP stress-scenario generator (joint one-day returns of every series by regime); quality"
    " in the high-volatility regime against real returns, beside a filtered-historical-simulation bootstrap.")
vae_scenarios_model = _generator_asset(
    "vae_scenarios", "vae", train_vae, VAEConfig,
    "Conditional VAE stress-scenario generator with the GAN's interface; same quality evaluation.")

ASSETS = [vol_baselines, lstm_vol_model, gnn_corr_model, gan_scenarios_model, vae_scenarios_model]
