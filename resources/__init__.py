"""Dagster resources, one module per system, and the IO manager; callers import them from here.

``market_data`` (prices, instruments, positions, landing folders), ``feature_store``, ``mlflow`` (registry,
audit and run-pinned model versions), ``lineage``, ``alerts`` (limits and the alert sink), ``io_manager``;
``environments`` is the one place that picks what depends on the environment: ``resources_for_env`` embedded or
production resources, ``executor_for_env`` the multiprocess or the Celery executor.
"""

from resources.alerts import AlertSinkResource, RiskLimitsResource
from resources.environments import (
    WEBHOOK_ENV,
    embedded_resources,
    executor_for_env,
    production_resources,
    resources_for_env,
)
from resources.feature_store import FeatureStoreResource
from resources.io_manager import LocalTableIOManager
from resources.lineage import LineageResource
from resources.market_data import LandingResource, MarketDataResource, PortfolioResource
from resources.mlflow import MlflowResource, embedded_mlflow
from resources.monitor import LiveMonitorResource

__all__ = [
    "WEBHOOK_ENV",
    "AlertSinkResource",
    "FeatureStoreResource",
    "LandingResource",
    "LineageResource",
    "LiveMonitorResource",
    "LocalTableIOManager",
    "MarketDataResource",
    "MlflowResource",
    "PortfolioResource",
    "RiskLimitsResource",
    "embedded_mlflow",
    "embedded_resources",
    "executor_for_env",
    "production_resources",
    "resources_for_env",
]
