"""The one place that picks what depends on the environment: ``resources_for_env`` the resources, from
``RISK_PLATFORM_ENV`` (``embedded`` by default, or ``production``); ``executor_for_env`` the executor, from
``RISK_PLATFORM_EXECUTOR`` (``multiprocess`` by default, or ``celery``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg

from resources.alerts import AlertSinkResource, RiskLimitsResource
from resources.feature_store import FeatureStoreResource
from resources.io_manager import LocalTableIOManager
from resources.lineage import LineageResource
from resources.market_data import LandingResource, MarketDataResource, PortfolioResource
from resources.mlflow import MlflowResource, embedded_mlflow
from resources.monitor import LiveMonitorResource
from risk_platform import paths
from risk_platform.errors import InputError
from risk_platform.project_config import ProjectConfig, load_project_config

WEBHOOK_ENV = "RISK_PLATFORM_ALERT_WEBHOOK_URL"
EXECUTOR_ENV = "RISK_PLATFORM_EXECUTOR"
CELERY_BROKER_ENV = "DAGSTER_CELERY_BROKER_URL"
CELERY_BACKEND_ENV = "DAGSTER_CELERY_BACKEND_URL"


def embedded_resources(state_dir: Path | None = None, config: ProjectConfig | None = None) -> dict[str, Any]:
    """Defaults for ``make demo``, ``make ui`` and tests: the data the project configuration names (``config``, by
    default :func:`~risk_platform.project_config.load_project_config`: environment, ``risk_platform.yaml``, else
    the bundled panel, sample book and limits), state under ``var/`` and MLflow in ``mlruns/``; given a
    ``state_dir`` (tests), everything goes under it, MLflow too."""
    data = config if config is not None else load_project_config()
    state = Path(state_dir) if state_dir is not None else paths.state_dir()
    mlruns = Path(state_dir) / "mlruns" if state_dir is not None else paths.mlruns_dir()
    return {
        "market_data": MarketDataResource(
            prices_path=str(data.prices),
            instruments_path=str(data.instruments),
            expectations_dir=str(paths.expectations_dir()),
            quarantine_dir=str(state / "quarantine"),
            validations_dir=str(state / "gx_validations"),
        ),
        "feature_store": FeatureStoreResource(root=str(state / "feature_store")),
        "portfolio_source": PortfolioResource(positions_path=str(data.positions)),
        "io_manager": LocalTableIOManager(base_dir=str(state / "assets")),
        "mlflow": embedded_mlflow(mlruns),
        "lineage": LineageResource(root=str(state / "lineage")),
        "limits_source": RiskLimitsResource(limits_path=str(data.limits)),
        "alert_sink": AlertSinkResource(jsonl_path=str(state / "alerts" / "alerts.jsonl")),
        "landing": LandingResource(prices_dir=str(data.landing_prices or state / "landing" / "prices"),
                                   positions_dir=str(data.landing_positions or state / "landing" / "positions")),
        "live_monitor": LiveMonitorResource(state_dir=str(state / "monitor")),
    }


def production_resources() -> dict[str, Any]:
    """Production: every location from environment variables (the same names the embedded resources and the CLI
    read, see :mod:`risk_platform.project_config`), each required, resolved at run time by Dagster."""
    return {
        "market_data": MarketDataResource(
            prices_path=dg.EnvVar("RISK_PLATFORM_PRICES"),
            instruments_path=dg.EnvVar("RISK_PLATFORM_INSTRUMENTS"),
            expectations_dir=dg.EnvVar("RISK_PLATFORM_EXPECTATIONS_DIR"),
            quarantine_dir=dg.EnvVar("RISK_PLATFORM_QUARANTINE_DIR"),
            validations_dir=dg.EnvVar("RISK_PLATFORM_VALIDATIONS_DIR"),
        ),
        "feature_store": FeatureStoreResource(root=dg.EnvVar("RISK_PLATFORM_FEATURE_STORE")),
        "portfolio_source": PortfolioResource(positions_path=dg.EnvVar("RISK_PLATFORM_POSITIONS")),
        "io_manager": LocalTableIOManager(base_dir=dg.EnvVar("RISK_PLATFORM_ASSET_STORE")),
        "mlflow": MlflowResource(tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"),
                                 audit_log=dg.EnvVar("RISK_PLATFORM_ALIAS_AUDIT_LOG")),
        "lineage": LineageResource(root=dg.EnvVar("RISK_PLATFORM_LINEAGE_DIR")),
        "limits_source": RiskLimitsResource(limits_path=dg.EnvVar("RISK_PLATFORM_LIMITS")),
        # the webhook is optional: set RISK_PLATFORM_ALERT_WEBHOOK_URL before the code location loads
        "alert_sink": AlertSinkResource(
            jsonl_path=dg.EnvVar("RISK_PLATFORM_ALERT_LOG"),
            webhook_url=dg.EnvVar(WEBHOOK_ENV) if os.environ.get(WEBHOOK_ENV) else None,
        ),
        "landing": LandingResource(prices_dir=dg.EnvVar("RISK_PLATFORM_LANDING_PRICES"),
                                   positions_dir=dg.EnvVar("RISK_PLATFORM_LANDING_POSITIONS")),
        "live_monitor": LiveMonitorResource(state_dir=dg.EnvVar("RISK_PLATFORM_MONITOR_STATE")),
    }


def resources_for_env(env: str | None = None) -> dict[str, Any]:
    """Embedded or production resources, by ``env`` or ``RISK_PLATFORM_ENV``."""
    env = env or os.environ.get("RISK_PLATFORM_ENV", "embedded")
    if env == "embedded":
        return embedded_resources()
    if env == "production":
        return production_resources()
    raise InputError(f"RISK_PLATFORM_ENV must be 'embedded' or 'production', got '{env}'")


def celery_executor_from_env() -> dg.ExecutorDefinition:
    """``dagster_celery.celery_executor`` on the broker ``DAGSTER_CELERY_BROKER_URL`` and the result backend
    ``DAGSTER_CELERY_BACKEND_URL`` (a Redis URL serves as both), resolved by Dagster when a run starts. The
    workers read the same two variables through ``resources/instance/celery.yaml``."""
    try:
        from dagster_celery import celery_executor
    except ImportError as exc:
        raise InputError(f"{EXECUTOR_ENV}=celery needs dagster-celery: pip install -e '.[distributed]'") from exc
    return celery_executor.configured({"broker": {"env": CELERY_BROKER_ENV}, "backend": {"env": CELERY_BACKEND_ENV}})


def executor_for_env(executor: str | None = None) -> dg.ExecutorDefinition:
    """The executor of every job, by ``executor`` or ``RISK_PLATFORM_EXECUTOR``: ``multiprocess`` (default: one
    process per step on this machine, or in process with run config ``execution.config.in_process``) or ``celery``
    (each step a task on a Celery queue, run by ``dagster-celery`` workers on any machine that reaches the broker,
    the Dagster instance and the same code and environment)."""
    executor = executor or os.environ.get(EXECUTOR_ENV, "multiprocess")
    if executor == "multiprocess":
        return dg.multi_or_in_process_executor
    if executor == "celery":
        return celery_executor_from_env()
    raise InputError(f"{EXECUTOR_ENV} must be 'multiprocess' or 'celery', got '{executor}'")
