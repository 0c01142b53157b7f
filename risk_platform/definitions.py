"""The one Dagster ``Definitions`` of the project (the only module of risk_platform that imports dagster)."""

import dagster as dg

from assets import ALL_ASSETS, ALL_CHECKS
from jobs import JOBS
from resources import resources_for_env

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=JOBS,
    resources=resources_for_env(),
    executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
)
