"""Turning library results into Dagster metadata that renders well in the UI."""

from __future__ import annotations

from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from risk_platform.validation.crisis import WindowValidation
from risk_platform.workflows.monitoring import MONITORED_MODEL, Monitoring
from risk_platform.workflows.promotion import Promotion
from risk_platform.workflows.training import NEW_VERSION_ALIAS, TrainedVersion

_TYPES = {"i": "int", "u": "int", "f": "float", "b": "bool"}


def table(frame: pd.DataFrame, max_rows: int = 200) -> dg.TableMetadataValue:
    """A DataFrame as a UI table (typed columns, NaN as empty)."""
    frame = frame.head(max_rows)
    schema = dg.TableSchema(
        columns=[dg.TableColumn(str(c), _TYPES.get(frame[c].dtype.kind, "string")) for c in frame.columns]
    )
    records = [dg.TableRecord({str(k): _plain(v) for k, v in row.items()}) for row in frame.to_dict(orient="records")]
    return dg.MetadataValue.table(records=records, schema=schema)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else round(float(value), 6)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return value if value is None or isinstance(value, (int, str)) else str(value)


def manifest_table(manifest: dict) -> dg.TableMetadataValue:
    """The partitions of a feature-store table with their content hashes."""
    return table(pd.DataFrame(manifest["partitions"])[["year", "rows", "sha256", "path"]])


def latest_gx_validation_id(context: dg.AssetExecutionContext) -> str:
    """The GX validation behind the latest market panel (used when a manifest does not carry one)."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("market_panel"))
    if event is None or event.asset_materialization is None:
        return "unknown"
    value = event.asset_materialization.metadata.get("gx_validation_id")
    return value.value if value is not None else "unknown"


# ------------------------------------------------------------------------ models, validation and promotion


def model_version_metadata(trained: TrainedVersion) -> dict:
    """A registered version: its URI, number, run, alias, the metrics its run logged and its tables."""
    version = trained.version
    return {"model_uri": version.model_uri, "model_version": version.version, "mlflow_run_id": version.run_id,
            "alias": NEW_VERSION_ALIAS, **{k: round(v, 6) for k, v in trained.metrics.items()},
            **{name: table(frame) for name, frame in trained.tables.items()}}


def window_validation_metadata(result: WindowValidation) -> dict:
    """One family in one crisis window: status, the backtests per method and confidence, the family's figures."""
    rows = pd.DataFrame(result.backtests)
    shown = rows[["method", "alpha", "n", "exceptions", "expected_exceptions", "zone", "kupiec_p",
                  "christoffersen_p", "es_z2", "tick_loss"]].round(4) if len(rows) else pd.DataFrame(
        [{"status": result.status}])
    return {"window": result.window, "status": result.status, "backtests": table(shown),
            "trained_on": f"{result.train_start}..{result.train_end}" if result.train_start else "n/a",
            **{k: round(v, 6) for k, v in result.metrics.items() if pd.notna(v)}}


def promotion_metadata(promotion: Promotion) -> dict:
    """The decisions, each family's gate lines, the 99% zones per window and method, how many were promoted."""
    decided = pd.DataFrame([d.to_dict() for d in promotion.decisions])
    return {"decisions": table(decided.drop(columns="gates")),
            "gates": dg.MetadataValue.md("\n".join(f"- **{d.model} v{d.version}**: {d.gates}"
                                                   for d in promotion.decisions)),
            "zones_99": table(promotion.zones_99().reset_index()),
            "promoted": int(decided["passed"].sum())}


def monitoring_metadata(monitoring: Monitoring) -> dict:
    """Whether the monitored LSTM breached (the drift sensor reads ``drift_breach`` and ``model_key``)."""
    drift = monitoring.drift
    if drift is None:
        return {"drift_breach": False, "model_key": MONITORED_MODEL, "status": "no version"}
    return {"drift_breach": drift.breach, "model_key": MONITORED_MODEL,
            "monitored": f"v{drift.version} ({monitoring.alias})", "qlike_ratio_to_ewma": round(drift.qlike_ratio, 4),
            "exceptions_99": drift.exceptions, "zone_99": drift.zone, "kupiec_p_99": round(drift.kupiec_p, 4),
            "summary": dg.MetadataValue.md(drift.summary()), "shadow": dg.MetadataValue.md(monitoring.shadow)}
