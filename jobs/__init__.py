"""Asset jobs (schedules, sensors and partitions join here as they come)."""

import dagster as dg

risk_pipeline = dg.define_asset_job(
    "risk_pipeline",
    selection=dg.AssetSelection.groups("ingestion", "features", "models", "risk"),
    description="End to end: ingest and gate the market data, build features, train and register the models,"
    " compute portfolio risk.",
)

retrain_models = dg.define_asset_job(
    "retrain_models",
    selection=dg.AssetSelection.groups("models"),
    description="Retrain every model on the current feature store and register new experimental versions"
    " (run config ops.<asset>.config.preset: demo or full).",
)

JOBS = [risk_pipeline, retrain_models]
