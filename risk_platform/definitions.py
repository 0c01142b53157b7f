"""The one Dagster ``Definitions`` of the project (the only module of risk_platform that imports dagster)."""

import dagster as dg

from assets import ALL_ASSETS
from jobs import JOBS, SCHEDULES, SENSORS
from resources import executor_for_env, resources_for_env

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=resources_for_env(),
    # multiprocess by default (runs launched from the UI, schedules, sensors: one process per step, as many at a
    # time as cores; the main job runs its steps in process, run config execution.config.in_process, jobs/launch.py),
    # or Celery workers with RISK_PLATFORM_EXECUTOR=celery (README, Distributed executor)
    executor=executor_for_env(),
)
