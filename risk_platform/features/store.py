"""Parquet feature store: one table per feature set, partitioned by year, written atomically.

Layout: ``<root>/<table>/year=<YYYY>/part-<sha256 prefix>.parquet`` and ``<root>/<table>/_manifest.json``.
Each partition file is written to a temporary name, hashed, and renamed to its content-addressed name, so
it never overwrites the file of another version. The manifest (partition -> file, rows, sha256 of the
file's bytes) is written last, atomically, and is what readers follow: a write that fails part-way leaves
the previous manifest and all its files in place. Files no manifest refers to are removed only after the
new manifest is in place. Reads are point in time: ``as_of`` returns only rows dated on or before it.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from risk_platform.data.loading import sha256_file
from risk_platform.errors import InputError
from risk_platform.io import atomic_write, atomic_write_text

MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class Partition:
    """One year of a table: its file, row count and content hash (sha256 of the Parquet bytes)."""

    year: int
    path: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class TableManifest:
    table: str
    partitions: tuple[Partition, ...]

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)

    def to_dict(self) -> dict:
        return {"table": self.table, "rows": self.rows, "partitions": [asdict(p) for p in self.partitions]}


class FeatureStore:
    """A folder of year-partitioned Parquet tables with a manifest of content hashes."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def write(self, table: str, frame: pd.DataFrame, date_column: str = "date") -> TableManifest:
        """Write ``frame`` as ``table``, one partition per calendar year of ``date_column``."""
        if frame.empty:
            raise InputError(f"feature table {table}: nothing to write (no rows)")
        table_dir = self.root / table
        years = frame[date_column].dt.year
        partitions = []
        for year, part in frame.groupby(years, sort=True):
            arrow = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
            path, sha = self._write_content_addressed(table_dir / f"year={year}", arrow)
            partitions.append(Partition(int(year), str(path.relative_to(self.root)), len(part), sha))
        manifest = TableManifest(table, tuple(partitions))
        atomic_write_text(table_dir / MANIFEST, json.dumps(manifest.to_dict(), indent=1))
        self._remove_unreferenced(table_dir, {self.root / p.path for p in partitions})
        return manifest

    @staticmethod
    def _write_content_addressed(folder: Path, arrow: pa.Table) -> tuple[Path, str]:
        """Write to a temporary file, then rename it to ``part-<sha256[:16]>.parquet``."""
        folder.mkdir(parents=True, exist_ok=True)
        staging = atomic_write(folder / f".staging-{uuid.uuid4().hex}.parquet",
                               lambda tmp: pq.write_table(arrow, tmp, compression="zstd"))
        sha = sha256_file(staging)
        final = folder / f"part-{sha[:16]}.parquet"
        os.replace(staging, final)
        return final, sha

    def manifest(self, table: str) -> TableManifest:
        path = self.root / table / MANIFEST
        if not path.exists():
            raise InputError(f"feature table {table}: not in store {self.root} (no {MANIFEST})")
        data = json.loads(path.read_text())
        return TableManifest(data["table"], tuple(Partition(**p) for p in data["partitions"]))

    def read(self, table: str, as_of: pd.Timestamp | None = None, start: pd.Timestamp | None = None,
             date_column: str = "date", verify: bool = False) -> pd.DataFrame:
        """Rows of ``table`` dated in [start, as_of]; ``verify`` re-hashes each partition read. Only the year
        partitions the manifest places in that range are opened, and rows are filtered as they are read."""
        parts = [self._read_partition(table, p, as_of, start, date_column, verify)
                 for p in self.manifest(table).partitions
                 if not ((as_of is not None and p.year > as_of.year) or (start is not None and p.year < start.year))]
        if not parts:
            return pd.DataFrame()
        return pd.concat(parts, ignore_index=True)

    def read_latest(self, table: str, as_of: pd.Timestamp, date_column: str = "date",
                    verify: bool = False) -> pd.DataFrame:
        """The rows of the latest date on or before ``as_of``, opening partitions from the year of ``as_of``
        backwards until one has rows (usually one partition); an empty frame if no row is that old."""
        for p in sorted(self.manifest(table).partitions, key=lambda p: p.year, reverse=True):
            if p.year > as_of.year:
                continue
            rows = self._read_partition(table, p, as_of, None, date_column, verify)
            if len(rows):
                return rows[rows[date_column] == rows[date_column].max()].reset_index(drop=True)
        return pd.DataFrame()

    def _read_partition(self, table: str, partition: Partition, as_of: pd.Timestamp | None,
                        start: pd.Timestamp | None, date_column: str, verify: bool) -> pd.DataFrame:
        path = self.root / partition.path
        if verify and sha256_file(path) != partition.sha256:
            raise InputError(f"feature table {table}: partition {partition.path} does not match its manifest hash")
        bounds = ([(date_column, "<=", as_of)] if as_of is not None else []) + \
                 ([(date_column, ">=", start)] if start is not None else [])
        return pq.read_table(path, filters=bounds or None).to_pandas()

    @staticmethod
    def _remove_unreferenced(table_dir: Path, keep: set[Path]) -> None:
        """Delete partition files the manifest no longer names (derived data, not raw data)."""
        for part_dir in table_dir.glob("year=*"):
            for f in part_dir.glob("*.parquet"):
                if f not in keep:
                    f.unlink()
            if not any(part_dir.iterdir()):
                part_dir.rmdir()
