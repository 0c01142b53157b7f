"""The IO manager: asset values as Parquet or JSON files, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from risk_platform.io import atomic_write, atomic_write_text


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
