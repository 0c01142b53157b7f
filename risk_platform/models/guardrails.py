"""Guardrails on model volatility forecasts: an implausibly high forecast does not feed limits until a named
human accepts it.

Historical norm (point in time)
    ``norm(series, asof)`` = the **median of the series' daily EWMA(0.94) variance** (``ewma_vol**2`` of the
    feature table) over its last ``window_days = 1260`` rows (about five years of its trading days) dated on
    or before ``asof``; at least ``min_obs = 252`` values are required, otherwise the norm is undefined.

    Why this definition: the EWMA variance is the same quantity as the forecast (a next-day variance in the
    series' own units: log-return squared or basis points squared), is in the point-in-time feature store
    for every day and is the RiskMetrics baseline the platform falls back to. The median, not the mean,
    so that the crises inside the window (2008, 2020) do not inflate the norm until nothing is ever
    flagged. Five years: long enough to contain a stress episode, short enough to follow level shifts
    (a three-month yield pinned at zero in 2009-2015 has a far smaller bp variance than in 2022). Nothing
    dated after ``asof`` is read, so later data cannot change a past decision.

Rule
    A forecast is **flagged** when ``forecast > multiple * norm`` (``multiple = 2``). A forecast that is not
    finite or not positive, or whose series has no norm, is flagged too (status ``invalid`` / ``no_norm``):
    a forecast that cannot be checked does not feed limits either.

Overrides
    A flagged forecast feeds limits only after a recorded human override accepts it: one JSON line in an
    append-only log (:func:`accept_override`, or ``risk-platform override``) with ``time, model, version,
    series, asof, ratio, accepted_by, reason``. An override is specific to (model, version, series, asof).
    :func:`limit_inputs` splits the forecasts into those that may feed limits and those excluded (the
    caller falls back to the baseline figure, e.g. the EWMA variance carried in the result).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from risk_platform import paths
from risk_platform.errors import InputError
from risk_platform.io import append_line, read_json_lines

NORM_WINDOW_DAYS = 1260
NORM_MIN_OBS = 252
DEFAULT_MULTIPLE = 2.0
MACHINE_ACTORS = frozenset({"schedule", "sensor", "system", "dagster", "auto", "automatic", "automation", "bot",
                            "cron", "ci", "pipeline"})


OVERRIDE_LOG_NAME = "forecast_overrides.jsonl"


def override_log_beside(audit_log: Path | str) -> Path:
    """The overrides log kept beside an alias audit log (where the risk assets and the live monitor read it)."""
    return Path(audit_log).parent / OVERRIDE_LOG_NAME


def default_override_log() -> Path:
    """``mlruns/forecast_overrides.jsonl``: beside the alias audit log of the embedded MLflow store, where the
    risk assets read it (``MlflowResource.override_log``)."""
    return paths.mlruns_dir() / OVERRIDE_LOG_NAME


def norm_definition(window_days: int = NORM_WINDOW_DAYS, min_obs: int = NORM_MIN_OBS) -> str:
    return (f"median of the series' daily EWMA(0.94) variance over its last {window_days} rows on or before the"
            f" as-of date (at least {min_obs} values)")


def historical_norms(daily: pd.DataFrame, asof, series: list[str] | None = None,
                     window_days: int = NORM_WINDOW_DAYS, min_obs: int = NORM_MIN_OBS) -> pd.DataFrame:
    """Per series: ``norm`` (NaN when undefined), ``n_obs``, and ``ewma_variance`` on its last row on or before
    ``asof`` (the baseline figure). Uses rows dated on or before ``asof`` only."""
    asof = _timestamp(asof)
    past = daily[daily["date"] <= asof]
    if series is not None:
        past = past[past["symbol"].isin(series)]
    rows = {}
    for symbol, group in past.sort_values("date").groupby("symbol", sort=True):
        variance = (group["ewma_vol"].to_numpy(dtype=float) ** 2)[-window_days:]
        variance = variance[np.isfinite(variance)]
        n = len(variance)
        last = group["ewma_vol"].iloc[-1] ** 2
        rows[symbol] = {"norm": float(np.median(variance)) if n >= min_obs else np.nan, "n_obs": n,
                        "ewma_variance": float(last) if np.isfinite(last) else np.nan,
                        "last_date": f"{group['date'].iloc[-1]:%Y-%m-%d}"}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["norm", "n_obs", "ewma_variance", "last_date"])
    if series is not None:
        frame = frame.reindex(series)
        frame["n_obs"] = frame["n_obs"].fillna(0).astype(int)
    return frame


@dataclass(frozen=True)
class GuardrailResult:
    """Forecasts checked against the historical norm at ``asof``.

    ``table`` (index: series): ``forecast, norm, ratio, flagged, status`` (``ok``, ``above_norm``,
    ``no_norm``, ``invalid``), ``n_obs`` (values in the norm), ``ewma_variance`` (the baseline figure at
    ``asof``) and ``ratio_to_ewma``."""

    asof: str
    multiple: float
    table: pd.DataFrame
    model: str | None = None
    version: str | None = None
    definition: str = field(default_factory=norm_definition)

    @property
    def flagged(self) -> list[str]:
        return [str(s) for s in self.table.index[self.table["flagged"]]]

    def summary(self) -> str:
        who = f"{self.model} v{self.version} " if self.model else ""
        lines = [f"{who}guardrail at {self.asof}: {len(self.flagged)} of {len(self.table)} forecasts flagged"
                 f" (forecast > {self.multiple:g} x norm; norm = {self.definition})"]
        for symbol, row in self.table[self.table["flagged"]].iterrows():
            lines.append(f"  {symbol}: {row['status']}, forecast {row['forecast']:.4g}, norm {row['norm']:.4g},"
                         f" ratio {row['ratio']:.2f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        table = self.table.reset_index(names="series").replace({np.nan: None})
        return {"asof": self.asof, "multiple": self.multiple, "model": self.model, "version": self.version,
                "norm_definition": self.definition, "flagged": self.flagged,
                "series": table.to_dict(orient="records")}


def check_forecasts(forecast_variance: pd.Series, daily: pd.DataFrame, asof, multiple: float = DEFAULT_MULTIPLE,
                    *, model: str | None = None, version: str | None = None,
                    window_days: int = NORM_WINDOW_DAYS, min_obs: int = NORM_MIN_OBS) -> GuardrailResult:
    """Flag the forecasts above ``multiple`` times their series' historical norm at ``asof``.

    Parameters
    ----------
    forecast_variance : next-day variance per series (index: symbol), in the series' own units, made at
        ``asof``.
    daily : the feature table (``date, symbol, ewma_vol``); only rows dated on or before ``asof`` are read.
    asof : the forecast date.
    """
    if not multiple > 0:
        raise InputError(f"guardrail multiple must be positive, got {multiple}")
    asof_ts = _timestamp(asof)
    forecast = pd.Series(forecast_variance, dtype=float)
    norms = historical_norms(daily, asof_ts, [str(s) for s in forecast.index], window_days, min_obs)
    table = pd.DataFrame({"forecast": forecast.to_numpy()}, index=[str(s) for s in forecast.index])
    table["norm"] = norms["norm"].to_numpy()
    table["ratio"] = table["forecast"] / table["norm"]
    valid = np.isfinite(table["forecast"]) & (table["forecast"] > 0)
    has_norm = np.isfinite(table["norm"]) & (table["norm"] > 0)
    table["status"] = np.where(~valid, "invalid", np.where(~has_norm, "no_norm",
                               np.where(table["ratio"] > multiple, "above_norm", "ok")))
    table["flagged"] = table["status"] != "ok"
    table["n_obs"] = norms["n_obs"].to_numpy()
    table["ewma_variance"] = norms["ewma_variance"].to_numpy()
    table["ratio_to_ewma"] = table["forecast"] / table["ewma_variance"]
    table.index.name = "series"
    return GuardrailResult(f"{asof_ts:%Y-%m-%d}", float(multiple), table, model, version,
                           norm_definition(window_days, min_obs))


@dataclass(frozen=True)
class OverrideRecord:
    """One accepted flagged forecast: a line of the overrides log."""

    time: str
    model: str
    version: str
    series: str
    asof: str
    ratio: float | None
    accepted_by: str
    reason: str


class OverrideLog:
    """Append-only JSON-lines file of :class:`OverrideRecord` (records are only ever added)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_override_log()

    def append(self, record: OverrideRecord) -> OverrideRecord:
        append_line(self.path, json.dumps(asdict(record), sort_keys=True))
        return record

    def records(self) -> list[OverrideRecord]:
        if not self.path.exists():
            return []
        out = []
        for number, value in read_json_lines(self.path, "an override record"):
            try:
                out.append(OverrideRecord(**value))
            except TypeError:
                raise InputError(f"{self.path} line {number}: not an override record") from None
        return out


def accept_override(log: OverrideLog | Path | str | None, *, model: str, version: str, series: str, asof,
                    accepted_by: str, reason: str, known_models: Collection[str], ratio: float | None = None,
                    now: pd.Timestamp | None = None) -> OverrideRecord:
    """Record that ``accepted_by`` (a named human, not a schedule or sensor) accepts the flagged forecast of
    ``model`` ``version`` for ``series`` at ``asof``. :class:`InputError` on a model not in ``known_models``
    (the families' keys), a missing name or reason, or a bad date."""
    if model not in known_models:
        raise InputError(f"unknown model '{model}' (expected one of {', '.join(known_models)})")
    person = (accepted_by or "").strip()
    if not person or person.lower() in MACHINE_ACTORS or not any(c.isalpha() for c in person):
        raise InputError(f"an override must be accepted by a named human, got '{accepted_by}'")
    if not (reason or "").strip():
        raise InputError("an override needs a reason")
    if not str(version).strip() or not str(series).strip():
        raise InputError("an override needs a model version and a series")
    if ratio is not None and not np.isfinite(ratio):
        raise InputError(f"override ratio must be finite, got {ratio}")
    record = OverrideRecord(time=(now or pd.Timestamp.now(tz="UTC")).isoformat(), model=model,
                            version=str(version).strip(), series=str(series).strip(),
                            asof=f"{_timestamp(asof):%Y-%m-%d}", ratio=None if ratio is None else float(ratio),
                            accepted_by=person, reason=reason.strip())
    log = log if isinstance(log, OverrideLog) else OverrideLog(log)
    return log.append(record)


def accepted_overrides(log: OverrideLog | Path | str | None, *, model: str, version: str,
                       asof) -> dict[str, OverrideRecord]:
    """series -> the latest override recorded for (``model``, ``version``, ``asof``)."""
    log = log if isinstance(log, OverrideLog) else OverrideLog(log)
    day = f"{_timestamp(asof):%Y-%m-%d}"
    return {r.series: r for r in log.records()
            if r.model == model and r.version == str(version) and r.asof == day}


@dataclass(frozen=True)
class LimitInputs:
    """Which forecasts may feed limits. ``variance``: series -> forecast (unflagged, or flagged and
    accepted); ``excluded``: flagged without an override (use the baseline figure); ``overridden``: flagged
    but accepted, with who accepted."""

    variance: dict[str, float]
    excluded: list[str]
    overridden: dict[str, str]
    baseline: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def limit_inputs(result: GuardrailResult, overrides: dict[str, OverrideRecord]) -> LimitInputs:
    """Split the checked forecasts: a flagged forecast without an override (for this model, version and
    as-of date) is excluded; ``baseline`` gives the EWMA variance the caller falls back to for those."""
    for symbol, record in overrides.items():
        if (result.model is not None and record.model != result.model) or \
                (result.version is not None and record.version != result.version) or record.asof != result.asof:
            raise InputError(f"override for {symbol} is for {record.model} v{record.version} at {record.asof},"
                             f" not {result.model} v{result.version} at {result.asof}")
    variance, excluded, overridden, baseline = {}, [], {}, {}
    for symbol, row in result.table.iterrows():
        if not row["flagged"]:
            variance[symbol] = float(row["forecast"])
        elif symbol in overrides and row["status"] != "invalid":
            variance[symbol] = float(row["forecast"])
            overridden[symbol] = overrides[symbol].accepted_by
        else:
            excluded.append(symbol)
            baseline[symbol] = float(row["ewma_variance"])
    return LimitInputs(variance, excluded, overridden, baseline)


def _timestamp(value) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise InputError(f"'{value}' is not a date") from None
    if pd.isna(stamp):
        raise InputError(f"'{value}' is not a date")
    return stamp.tz_localize(None).normalize() if stamp.tzinfo else stamp.normalize()
