"""The one Dagster ``Definitions`` of the project (the only module of risk_platform that imports dagster)."""

import dagster as dg

from assets import ALL_ASSETS
from jobs import JOBS, SCHEDULES, SENSORS
from resources import resources_for_env

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=resources_for_env(),
    executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
)
