"""Schedules, all in New York time (the desk's clock; Dagster handles the DST switches):

* ``intraday_risk_every_15_minutes``: risk and limits every 15 minutes, 08:00-17:00 on weekdays;
* ``end_of_day_risk_pipeline``: the whole pipeline at 18:30 on weekdays;
* ``weekly_model_retraining``: every model retrained with the ``full`` preset on Saturday 06:00.

They are off when the code location first loads (``DefaultScheduleStatus.STOPPED``): an operator turns
them on once in the UI (Automation) or with ``dagster schedule start``; the instance remembers it.
"""

import dagster as dg

from assets import ALL_ASSETS

TIMEZONE = "America/New_York"
# 08:00, 08:15, ..., 16:45 and 17:00: two cron strings (one cannot stop at 17:00 sharp)
INTRADAY_CRON = ["*/15 8-16 * * 1-5", "0 17 * * 1-5"]
END_OF_DAY_CRON = "30 18 * * 1-5"
WEEKLY_RETRAIN_CRON = "0 6 * * 6"


def training_run_config(preset: str) -> dict:
    """Run config of ``retrain_models`` setting ``preset`` on every asset of the models group that takes one
    (``TrainingConfig``)."""
    ops = {}
    for asset in ALL_ASSETS:
        if not isinstance(asset, dg.AssetsDefinition) or set(asset.group_names_by_key.values()) != {"models"}:
            continue
        schema = asset.op.config_schema
        fields = getattr(schema.config_type, "fields", None) if schema is not None else None
        if fields and "preset" in fields:
            ops[asset.op.name] = {"config": {"preset": preset}}
    return {"ops": ops}


intraday_risk_schedule = dg.ScheduleDefinition(
    name="intraday_risk_every_15_minutes",
    job_name="intraday_risk",
    cron_schedule=INTRADAY_CRON,
    execution_timezone=TIMEZONE,
    description="Risk and limits every 15 minutes, 08:00-17:00 New York time on weekdays, on the latest"
    " stored market data.",
    tags={"risk_platform/trigger": "schedule"},
)

end_of_day_schedule = dg.ScheduleDefinition(
    name="end_of_day_risk_pipeline",
    job_name="risk_pipeline",
    cron_schedule=END_OF_DAY_CRON,
    execution_timezone=TIMEZONE,
    description="The end-of-day pipeline (ingest, features, models, risk, limits) at 18:30 New York time on"
    " weekdays.",
    tags={"risk_platform/trigger": "schedule"},
)

weekly_retrain_schedule = dg.ScheduleDefinition(
    name="weekly_model_retraining",
    job_name="retrain_models",
    cron_schedule=WEEKLY_RETRAIN_CRON,
    execution_timezone=TIMEZONE,
    run_config=training_run_config("full"),
    description="Every model retrained with the full preset, Saturdays 06:00 New York time.",
    tags={"risk_platform/trigger": "schedule"},
)

SCHEDULES = [intraday_risk_schedule, end_of_day_schedule, weekly_retrain_schedule]
