"""The validation jobs: crisis windows (partitioned) and the promotion decision."""

import dagster as dg

from assets.validation import crisis_windows

crisis_validation = dg.define_asset_job(
    "crisis_validation",
    selection=dg.AssetSelection.groups("validation") - dg.AssetSelection.assets("model_promotion",
                                                                                "lstm_explanations"),
    partitions_def=crisis_windows,
    description="One crisis window (partition): retrain every model family on the data before it and backtest"
    " the book's VaR/ES inside it, beside HS, EWMA, GARCH-t and FHS (run every partition: a backfill).",
    tags={"risk_platform/job": "validation"},
)

promote_models = dg.define_asset_job(
    "promote_models",
    selection=dg.AssetSelection.assets("model_promotion", "lstm_explanations"),
    description="Summarise the crisis windows per model version, log the validation report to MLflow and apply"
    " the promotion policy (experimental -> current -> stable, audited); SHAP explanations of the LSTM.",
    tags={"risk_platform/job": "promotion"},
)
