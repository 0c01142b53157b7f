"""Asset jobs (schedules, sensors and partitions join here as they come)."""

import dagster as dg

risk_pipeline = dg.define_asset_job(
    "risk_pipeline",
    selection=dg.AssetSelection.groups("ingestion", "features", "risk"),
    description="End to end: ingest and gate the market data, build features, compute portfolio risk.",
)

JOBS = [risk_pipeline]
