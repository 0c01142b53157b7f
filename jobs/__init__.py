"""Asset jobs (schedules, sensors and partitions join here as they come)."""

import dagster as dg

from jobs.schedules import SCHEDULES as SCHEDULES  # schedules and sensors name their jobs
from jobs.sensors import SENSORS as SENSORS
from jobs.validation import crisis_validation, promote_models

# transient failures (a file still being written, a locked SQLite/MLflow store, a network blip): retry ops
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
# the QueuedRunCoordinator limits runs by this tag (resources/instance/production.yaml): one retraining at a time
RETRAIN_TAGS = {"risk_platform/job": "retrain"}

risk_pipeline = dg.define_asset_job(
    "risk_pipeline",
    selection=dg.AssetSelection.groups("ingestion", "features", "models", "risk", "monitoring"),
    description="End to end: ingest and gate the market data, build features, train and register the models,"
    " compute portfolio risk, monitor the production LSTM (drift, shadow).",
    tags={"risk_platform/job": "main"},  # one at a time (production.yaml): two would register and judge each other's
    op_retry_policy=TRANSIENT_RETRY,
)

retrain_models = dg.define_asset_job(
    "retrain_models",
    selection=dg.AssetSelection.groups("models"),
    description="Retrain every model on the current feature store and register new experimental versions"
    " (run config ops.<asset>.config.preset: demo or full).",
    tags=RETRAIN_TAGS,
    op_retry_policy=dg.RetryPolicy(max_retries=1, delay=60),
)

intraday_risk = dg.define_asset_job(
    "intraday_risk",
    selection=dg.AssetSelection.groups("risk"),
    description="Portfolio risk and limits on the latest stored market panel and returns (upstream values are"
    " read from the IO manager, not recomputed).",
    tags={"risk_platform/job": "intraday"},
    op_retry_policy=TRANSIENT_RETRY,
)

ingest_and_risk = dg.define_asset_job(
    "ingest_and_risk",
    selection=dg.AssetSelection.groups("ingestion", "features", "risk"),
    description="New market data: ingest and gate it, rebuild the features, recompute risk and limits.",
    tags={"risk_platform/job": "ingest"},
    op_retry_policy=TRANSIENT_RETRY,
)

JOBS = [risk_pipeline, retrain_models, intraday_risk, ingest_and_risk, crisis_validation, promote_models]
