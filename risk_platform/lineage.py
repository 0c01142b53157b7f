"""Lineage for reviewers: every materialization appends what it consumed and produced (file and partition
hashes, GX validation ids, MLflow runs and model versions, the git commit) to an append-only JSON-lines file
per Dagster run; :func:`trace` follows a Dagster run id or an MLflow run id back to the raw files.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from risk_platform import paths
from risk_platform.errors import InputError
from risk_platform.io import append_line, read_json_lines

RUN_ID = re.compile(r"[0-9a-f][0-9a-f-]{7,63}")


def check_run_id(text: str) -> str:
    """``text`` when it is a run id (a Dagster run's UUID or an MLflow run's 32 hex digits: 8 to 64 lowercase hex
    digits and hyphens); anything else, a path such as ``../../mlruns/alias_audit`` included, is an InputError."""
    if not RUN_ID.fullmatch(text):
        raise InputError(f"'{text}' is not a run id (a Dagster or MLflow run id: 8 to 64 hex digits and hyphens)")
    return text


@dataclass(frozen=True)
class LineageRecord:
    """One materialization: the asset, its upstream assets, and the facts a reviewer checks."""

    dagster_run_id: str
    asset: str
    upstream: list[str]
    facts: dict[str, Any]
    git_sha: str
    time: str = field(default_factory=lambda: pd.Timestamp.now(tz="UTC").isoformat())


def git_sha() -> str:
    """The commit of the source checkout, or ``unknown`` outside one."""
    root = paths.project_root()
    if root is None:
        return "unknown"
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


class LineageStore:
    """``<root>/<dagster_run_id>.jsonl``: records are only appended, one whole line per write; reads take run ids
    only (:func:`check_run_id`), so they never leave ``root``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def record(self, record: LineageRecord) -> LineageRecord:
        line = json.dumps(asdict(record), sort_keys=True, default=str)
        append_line(self.root / f"{record.dagster_run_id}.jsonl", line)
        return record

    def _path(self, dagster_run_id: str) -> Path:
        """The run's records file, always directly in ``root`` (the id is checked before it names a file)."""
        return self.root / f"{check_run_id(dagster_run_id)}.jsonl"

    def has_run(self, dagster_run_id: str) -> bool:
        return self._path(dagster_run_id).exists()

    def records(self, dagster_run_id: str) -> list[LineageRecord]:
        path = self._path(dagster_run_id)
        if not path.exists():
            raise InputError(f"no lineage recorded for Dagster run {dagster_run_id} in {self.root}")
        out = []
        for number, value in read_json_lines(path, "a lineage record"):
            try:
                out.append(LineageRecord(**value))
            except TypeError:
                raise InputError(f"{path} line {number}: not a lineage record") from None
        return out


def trace(store: LineageStore, identifier: str, mlflow_tags: dict[str, str] | None = None) -> dict[str, Any]:
    """The chain of a Dagster run (or of the MLflow run whose tags are given) back to the raw data.

    Returns ``{"dagster_run_id", "mlflow_run": tags or None, "git_sha", "assets": [...]}`` with assets
    ordered downstream first (risk, models, features, ingestion).
    """
    run_id = (mlflow_tags or {}).get("dagster_run_id", identifier)
    latest: dict[str, LineageRecord] = {}
    runs, queue = [], [run_id]
    while queue:  # the traced run, then the runs that produced its inputs (facts["upstream_runs"])
        current = queue.pop(0)
        if current in runs or (current != run_id and not store.has_run(current)):
            continue
        runs.append(current)
        in_run: dict[str, LineageRecord] = {}
        for record in store.records(current):
            in_run[record.asset] = record  # the last materialization of an asset in a run wins
            queue += list(record.facts.get("upstream_runs", {}).values())
        for asset, record in in_run.items():
            latest.setdefault(asset, record)
    order = {"portfolio_risk": 0, "portfolio": 1, "daily_features": 4, "correlation_features": 4, "returns": 5,
             "market_panel": 6, "raw_prices": 7, "instruments": 8}
    assets = sorted(latest.values(), key=lambda r: (order.get(r.asset, 2 if "model" in r.asset else 3), r.asset))
    return {
        "dagster_run_id": run_id,
        "runs": runs,
        "mlflow_run": mlflow_tags,
        "git_sha": sorted({r.git_sha for r in latest.values()}),
        "assets": [asdict(r) for r in assets],
    }


def format_trace(chain: dict[str, Any]) -> str:
    """Human-readable lineage: one block per asset, its upstream and facts."""
    lines = [f"Dagster run {chain['dagster_run_id']} (git {', '.join(chain['git_sha'])});"
             f" runs followed: {', '.join(chain['runs'])}"]
    if chain["mlflow_run"]:
        lines.append(f"  from MLflow run tags: {json.dumps(chain['mlflow_run'], sort_keys=True)}")
    for asset in chain["assets"]:
        lines.append(f"- {asset['asset']} (at {asset['time']}) <- {', '.join(asset['upstream']) or 'source'}")
        for key, value in asset["facts"].items():
            text = json.dumps(value, default=str)
            lines.append(f"    {key}: {text if len(text) < 400 else text[:400] + ' ...'}")
    return "\n".join(lines)
