"""Turning library results into Dagster metadata that renders well in the UI."""

from __future__ import annotations

from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

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
