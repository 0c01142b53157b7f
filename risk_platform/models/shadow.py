"""Shadow mode: the ``experimental`` version forecasts beside ``current`` every day without feeding limits;
the daily comparison is logged (append-only JSONL) so a reviewer can see how the challenger would have done.

Per series: both next-day variance forecasts, their ratio (experimental / current) and, once the realized
proxy (the next day's squared return, same units) is known, both QLIKE contributions
(:mod:`risk_platform.scoring`; lower is better; undefined when the proxy is zero). Forecasts for day t are
scored when day t+1's return exists: log the forecasts on day t with ``realized=None``, and the scored
comparison of day t on day t+1 (two lines with the same ``asof``; :func:`read_shadow_log` keeps the
latest per day, series and version pair).

Pure functions; the asset or job that runs the two versions passes their forecasts in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from risk_platform.io import append_line, read_json_lines
from risk_platform.scoring import qlike_one

COLUMNS = ("current", "experimental", "ratio", "realized", "qlike_current", "qlike_experimental", "better")


@dataclass(frozen=True)
class MonitoringPlan:
    """Which version a monitoring run watches and whether it runs a shadow comparison: ``monitored`` is the
    alias in production (``current``, else ``experimental`` before any promotion); ``shadow`` is True when
    ``current`` is monitored and a different version carries ``experimental`` (the challenger)."""

    monitored: str
    shadow: bool


def monitoring_plan(aliases: Mapping[str, str]) -> MonitoringPlan | None:
    """The plan for a model's ``aliases`` (alias -> version); None when it carries no alias to monitor."""
    if "current" in aliases:
        challenger = aliases.get("experimental")
        return MonitoringPlan("current", challenger is not None and challenger != aliases["current"])
    if "experimental" in aliases:
        return MonitoringPlan("experimental", False)
    return None


@dataclass(frozen=True)
class ShadowComparison:
    """One day's comparison. ``table`` (index: series) has :data:`COLUMNS`; ``better`` is ``experimental``,
    ``current``, ``tie`` or None (not scored)."""

    table: pd.DataFrame
    asof: str | None = None
    model: str | None = None
    current_version: str | None = None
    experimental_version: str | None = None

    @property
    def scored(self) -> pd.DataFrame:
        return self.table.dropna(subset=["qlike_current", "qlike_experimental"])

    def mean_qlike(self) -> dict[str, float]:
        """Mean QLIKE of each version over the series scored for both (NaN when none)."""
        scored = self.scored
        if scored.empty:
            return {"current": float("nan"), "experimental": float("nan"), "n": 0}
        return {"current": float(scored["qlike_current"].mean()),
                "experimental": float(scored["qlike_experimental"].mean()), "n": len(scored)}

    def summary(self) -> str:
        ratio = self.table["ratio"].replace([np.inf, -np.inf], np.nan).dropna()
        spread = (f"median {ratio.median():.3g}, range {ratio.min():.3g}..{ratio.max():.3g}" if len(ratio)
                  else "not comparable")
        head = (f"shadow {self.model or 'model'} {self.asof or ''}: experimental v{self.experimental_version} vs"
                f" current v{self.current_version}, {len(self.table)} series, forecast ratio {spread}")
        means = self.mean_qlike()
        if means["n"]:
            wins = int((self.scored["better"] == "experimental").sum())
            head += (f"; QLIKE over {means['n']} scored series: experimental {means['experimental']:.4f},"
                     f" current {means['current']:.4f}, experimental better on {wins}")
        return head

    def to_dict(self) -> dict:
        rows = {str(k): {c: _json_value(v) for c, v in row.items()} for k, row in self.table.iterrows()}
        return {"asof": self.asof, "model": self.model, "current_version": self.current_version,
                "experimental_version": self.experimental_version,
                "mean_qlike": {k: _json_value(v) for k, v in self.mean_qlike().items()}, "series": rows}


def compare_versions(current: dict[str, float], experimental: dict[str, float], realized: dict | None = None,
                     *, asof=None, model: str | None = None, current_version: str | None = None,
                     experimental_version: str | None = None) -> ShadowComparison:
    """Per series (the union of both dicts' keys, sorted): both forecasts, ``ratio = experimental /
    current`` and, where ``realized[series]`` is given, both QLIKE contributions and which is better.
    A series only one version forecasts has NaN for the other."""
    realized = realized or {}
    rows = {}
    for series in sorted(set(current) | set(experimental), key=str):
        cur = float(current.get(series, np.nan))
        exp = float(experimental.get(series, np.nan))
        real = float(realized.get(series, np.nan)) if realized.get(series) is not None else float("nan")
        q_cur, q_exp = qlike_one(real, cur), qlike_one(real, exp)
        if np.isfinite(q_cur) and np.isfinite(q_exp):
            better = "experimental" if q_exp < q_cur else "current" if q_cur < q_exp else "tie"
        else:
            better = None
        ratio = exp / cur if np.isfinite(cur) and cur > 0 and np.isfinite(exp) else float("nan")
        rows[str(series)] = (cur, exp, ratio, real, q_cur, q_exp, better)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))
    table.index.name = "series"
    day = None if asof is None else f"{pd.Timestamp(asof):%Y-%m-%d}"
    return ShadowComparison(table, day, model, None if current_version is None else str(current_version),
                            None if experimental_version is None else str(experimental_version))


def append_shadow_log(path: Path | str, comparison: ShadowComparison, *, run_id: str | None = None,
                      now: pd.Timestamp | None = None) -> dict:
    """Append the comparison as one JSON line (``time, run_id`` and :meth:`ShadowComparison.to_dict`);
    returns the record. Append-only: earlier lines are never rewritten."""
    record = {"time": (now or pd.Timestamp.now(tz="UTC")).isoformat(), "run_id": run_id, **comparison.to_dict()}
    append_line(Path(path), json.dumps(record, sort_keys=True))
    return record


def read_shadow_log(path: Path | str) -> pd.DataFrame:
    """The log as one row per (asof, series, versions), the latest line winning: ``asof, series, current_version,
    experimental_version`` plus :data:`COLUMNS` and ``time``. Empty when the file does not exist."""
    path = Path(path)
    columns = ["asof", "series", "current_version", "experimental_version", *COLUMNS, "time"]
    if not path.exists():
        return pd.DataFrame(columns=columns)
    rows = []
    for _, record in read_json_lines(path, "a shadow comparison"):
        for series, values in record["series"].items():
            rows.append({"asof": record["asof"], "series": series, "current_version": record["current_version"],
                         "experimental_version": record["experimental_version"], **values, "time": record["time"]})
    frame = pd.DataFrame(rows, columns=columns)
    key = ["asof", "series", "current_version", "experimental_version"]
    return frame.drop_duplicates(key, keep="last").reset_index(drop=True)


def _json_value(value):
    if value is None or isinstance(value, str):
        return value
    value = float(value)
    return value if np.isfinite(value) else None
