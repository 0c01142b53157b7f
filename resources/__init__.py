"""Dagster resources and the IO manager. ``resources_for_env`` is the one place that picks embedded or
production resources, from ``RISK_PLATFORM_ENV`` (``embedded`` by default, or ``production``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from risk_platform import paths
from risk_platform.alerts import Alert, Delivery, Triage, append_alerts, read_alerts, send_webhook, triage_alerts
from risk_platform.data.loading import RawPrices, load_instruments, load_prices
from risk_platform.data.quality import load_suite
from risk_platform.features.store import FeatureStore
from risk_platform.io import atomic_write, atomic_write_text
from risk_platform.lineage import LineageRecord, LineageStore, git_sha
from risk_platform.models.governance import AuditLog
from risk_platform.models.registry import ModelRegistry
from risk_platform.portfolio.positions import Portfolio, load_portfolio
from risk_platform.risk.limits import BUNDLED_LIMITS, LimitResult, LimitSet, load_limits

COMPLETENESS_SUITE_FILE = "market_panel_completeness.json"
WEBHOOK_ENV = "RISK_PLATFORM_ALERT_WEBHOOK_URL"


class MarketDataResource(dg.ConfigurableResource):
    """Where market data comes from (a prices file or a directory of vendor files) and where the gate
    keeps its records (quarantined files, GX validation results)."""

    prices_path: str
    instruments_path: str
    expectations_dir: str
    quarantine_dir: str
    validations_dir: str
    window_start: str | None = None
    window_end: str | None = None

    def instruments(self) -> pd.DataFrame:
        return load_instruments(self.instruments_path)

    def load(self, instruments: pd.DataFrame) -> RawPrices:
        return load_prices(self.prices_path, instruments)

    def completeness_suite(self) -> dict[str, Any]:
        return load_suite(Path(self.expectations_dir) / COMPLETENESS_SUITE_FILE)

    def window(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        def parse(text: str | None) -> pd.Timestamp | None:
            return pd.Timestamp(text) if text else None

        return parse(self.window_start), parse(self.window_end)

    def record_validation(self, validation_id: str, result: dict[str, Any]) -> Path:
        """Keep a GX validation result as JSON under its id (lineage points at it)."""
        return atomic_write_text(Path(self.validations_dir) / f"{validation_id}.json", json.dumps(result, indent=1))


class FeatureStoreResource(dg.ConfigurableResource):
    """The Parquet feature store."""

    root: str

    def store(self) -> FeatureStore:
        return FeatureStore(self.root)


class PortfolioResource(dg.ConfigurableResource):
    """The positions file of the book under risk."""

    positions_path: str

    def load(self, instruments: pd.DataFrame) -> Portfolio:
        return load_portfolio(self.positions_path, instruments)


class MlflowResource(dg.ConfigurableResource):
    """The MLflow tracking store and model registry (sqlite file embedded; a tracking server in production)."""

    tracking_uri: str
    audit_log: str
    artifact_root: str | None = None

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.tracking_uri, artifact_root=self.artifact_root)

    def audit(self) -> AuditLog:
        """The append-only log of every alias move (MLflow keeps no history of them)."""
        return AuditLog(self.audit_log)

    def override_log(self) -> Path:
        """The append-only log of human overrides of guardrail-flagged forecasts (beside the audit log)."""
        return Path(self.audit_log).parent / "forecast_overrides.jsonl"

    def shadow_log(self) -> Path:
        """The daily experimental-vs-current comparison (shadow mode), beside the audit log."""
        return Path(self.audit_log).parent / "shadow_lstm_vol.jsonl"


class LineageResource(dg.ConfigurableResource):
    """Where materializations append their lineage records (read by ``risk-platform lineage``)."""

    root: str

    def record(self, dagster_run_id: str, asset: str, upstream: list[str], facts: dict) -> None:
        LineageStore(self.root).record(LineageRecord(dagster_run_id, asset, upstream, facts, git_sha()))


class RiskLimitsResource(dg.ConfigurableResource):
    """The risk limits YAML file (default: the bundled limits for the sample book)."""

    limits_path: str

    def load(self) -> LimitSet:
        return load_limits(self.limits_path)


class AlertSinkResource(dg.ConfigurableResource):
    """Where limit alerts go: an append-only JSON-lines log, and an optional webhook (POST JSON).
    ``renotify_after_minutes``: a limit that keeps firing is recorded and sent again (a ``reminder``) once its
    episode's last record is this old; in between, runs suppress it (:func:`risk_platform.alerts.triage_alerts`)."""

    jsonl_path: str
    webhook_url: str | None = None
    webhook_timeout_s: float = 5.0
    renotify_after_minutes: float = 240.0

    def triage(self, fired: list[Alert], results: list[LimitResult], report: dict, run_id: str | None) -> Triage:
        """This run's episode events against the log (opened, escalated/eased, reminder, cleared)."""
        return triage_alerts(fired, results, report, read_alerts(self.jsonl_path),
                             pd.Timedelta(minutes=self.renotify_after_minutes), run_id=run_id)

    def emit(self, alerts: list[Alert]) -> Delivery | None:
        """Append the alerts to the log, then POST them to the webhook if one is set (a failed POST is
        logged and returned, never raised). None when there was nothing to send or no webhook."""
        append_alerts(self.jsonl_path, alerts)
        if not alerts or not self.webhook_url:
            return None
        return send_webhook(self.webhook_url, alerts, timeout=self.webhook_timeout_s)


class LandingResource(dg.ConfigurableResource):
    """Landing folders watched by the sensors: new market-data files (CSV/Parquet, the long prices format)
    and new positions files (CSV/YAML)."""

    prices_dir: str
    positions_dir: str


class LocalTableIOManager(dg.ConfigurableIOManager):
    """DataFrames as Parquet, dicts as JSON, one file per asset (per partition for partitioned assets,
    ``<asset>/<partition>``), written atomically (never pickles). An unpartitioned asset reading a partitioned
    one receives ``{partition: value}`` for every partition it depends on."""

    base_dir: str

    def _path(self, context: dg.OutputContext | dg.InputContext, suffix: str, partition: str | None = None) -> Path:
        key = context.asset_key.path if context.has_asset_key else [context.step_key, context.name]
        if partition is not None:
            key = [*key, partition]
        return Path(self.base_dir, *key).with_suffix(suffix)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        partition = context.asset_partition_key if context.has_asset_partitions else None
        if isinstance(obj, pd.DataFrame):
            path = atomic_write(self._path(context, ".parquet", partition),
                                lambda tmp: obj.to_parquet(tmp, index=False))
        elif isinstance(obj, dict):
            path = atomic_write_text(self._path(context, ".json", partition),
                                     json.dumps(obj, indent=1, default=str))
        else:
            raise TypeError(f"{type(obj).__name__} outputs are not stored: return a DataFrame or a dict")
        context.add_output_metadata({"stored_at": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> Any:
        if not context.has_asset_partitions:
            return self._read(context, None)
        keys = context.asset_partition_keys
        if context.has_partition_key and len(keys) == 1:
            return self._read(context, keys[0])
        return {key: self._read(context, key) for key in keys if self._stored(context, key)}

    def _stored(self, context: dg.InputContext, partition: str) -> bool:
        """Whether a partition has a value (an unpartitioned reader gets the materialized partitions only and
        judges the missing ones itself, e.g. a crisis window not yet validated)."""
        return any(self._path(context, suffix, partition).exists() for suffix in (".parquet", ".json"))

    def _read(self, context: dg.InputContext, partition: str | None) -> Any:
        parquet = self._path(context, ".parquet", partition)
        if parquet.exists():
            return pd.read_parquet(parquet)
        path = self._path(context, ".json", partition)
        if not path.exists():
            what = context.asset_key.to_user_string() + (f" partition {partition}" if partition else "")
            raise FileNotFoundError(f"no stored value for {what}: materialize it first")
        return json.loads(path.read_text())


def embedded_resources(state_dir: Path | None = None) -> dict[str, Any]:
    """Defaults for ``make demo`` and tests: the bundled panel and sample book, state under ``var/`` and
    MLflow in ``mlruns/``; given a ``state_dir`` (tests), everything goes under it, MLflow too."""
    state = Path(state_dir) if state_dir is not None else paths.state_dir()
    mlruns = Path(state_dir) / "mlruns" if state_dir is not None else paths.mlruns_dir()
    return {
        "market_data": MarketDataResource(
            prices_path=str(paths.BUNDLED_PRICES),
            instruments_path=str(paths.BUNDLED_INSTRUMENTS),
            expectations_dir=str(paths.expectations_dir()),
            quarantine_dir=str(state / "quarantine"),
            validations_dir=str(state / "gx_validations"),
        ),
        "feature_store": FeatureStoreResource(root=str(state / "feature_store")),
        "portfolio_source": PortfolioResource(positions_path=str(paths.SAMPLE_PORTFOLIO)),
        "io_manager": LocalTableIOManager(base_dir=str(state / "assets")),
        "mlflow": embedded_mlflow(mlruns),
        "lineage": LineageResource(root=str(state / "lineage")),
        "limits_source": RiskLimitsResource(limits_path=str(BUNDLED_LIMITS)),
        "alert_sink": AlertSinkResource(jsonl_path=str(state / "alerts" / "alerts.jsonl")),
        "landing": LandingResource(prices_dir=str(state / "landing" / "prices"),
                                   positions_dir=str(state / "landing" / "positions")),
    }


def embedded_mlflow(mlruns_dir: Path) -> MlflowResource:
    """``sqlite:///<absolute path>/mlflow.db`` with artifacts under ``<mlruns_dir>/artifacts``."""
    mlruns_dir = Path(mlruns_dir).resolve()
    return MlflowResource(tracking_uri=f"sqlite:///{mlruns_dir / 'mlflow.db'}",
                          artifact_root=str(mlruns_dir / "artifacts"),
                          audit_log=str(mlruns_dir / "alias_audit.jsonl"))


def production_resources() -> dict[str, Any]:
    """Production: every location from environment variables, resolved at run time by Dagster."""
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
    }


def resources_for_env(env: str | None = None) -> dict[str, Any]:
    """Embedded or production resources, by ``env`` or ``RISK_PLATFORM_ENV``."""
    env = env or os.environ.get("RISK_PLATFORM_ENV", "embedded")
    if env == "embedded":
        return embedded_resources()
    if env == "production":
        return production_resources()
    raise ValueError(f"RISK_PLATFORM_ENV must be 'embedded' or 'production', got '{env}'")
