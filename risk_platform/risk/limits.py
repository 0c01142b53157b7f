"""Risk limits: a YAML file of limits and their evaluation against a portfolio risk report.

A limit watches one figure of the report (``metric``, a key of :meth:`PortfolioRisk.to_dict`, dotted for
nested values such as ``regime_probability.high``), optionally scaled to a percentage of NAV
(``scale: pct_nav``). Numeric limits have a ``warn`` and/or a ``breach`` threshold; by default a figure
above the threshold is bad (``direction: above``), ``direction: below`` reverses it (a floor). Categorical
limits (``warn_values`` / ``breach_values``) fire when the figure is one of the listed values, e.g. the
current volatility regime ``high``. The ``severity`` (``warn`` or ``error``) is the severity of a breach; a
figure past the warn threshold only is always ``warn``.

A figure the report does not carry (not computed yet by this engine, or not finite) is ``not_evaluated``:
never silently ``ok``.

File format::

    version: 1
    alert_on: [breach]          # statuses that produce alerts (breach, and optionally warn)
    limits:
      - name: var_99_pct_nav
        family: var             # one of FAMILIES: one Dagster asset check per family
        metric: var_99
        scale: pct_nav
        warn: 1.5
        breach: 2.0
        severity: error
        description: 1-day 99% VaR as % of NAV
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from risk_platform.errors import InputError
from risk_platform.io import read_yaml
from risk_platform.paths import BUNDLED_LIMITS

FAMILIES = ("var", "es", "concentration", "liquidity", "regime")
SEVERITIES = ("warn", "error")
SCALES = ("absolute", "pct_nav")
DIRECTIONS = ("above", "below")

_LIMIT_KEYS = {"name", "family", "metric", "description", "scale", "direction", "warn", "breach", "severity",
               "warn_values", "breach_values", "unit"}
_TOP_KEYS = {"version", "alert_on", "limits"}


@dataclass(frozen=True)
class Limit:
    """One limit on one figure of the risk report (see the module docstring)."""

    name: str
    family: str
    metric: str
    severity: str = "error"
    description: str = ""
    scale: str = "absolute"
    direction: str = "above"
    warn: float | None = None
    breach: float | None = None
    warn_values: tuple[str, ...] = ()
    breach_values: tuple[str, ...] = ()
    unit: str = ""

    @property
    def categorical(self) -> bool:
        return bool(self.warn_values or self.breach_values)


@dataclass(frozen=True)
class LimitSet:
    """The limits of one file and the statuses that raise alerts."""

    limits: tuple[Limit, ...]
    source: str = ""
    alert_on: tuple[str, ...] = ("breach",)

    def family(self, family: str) -> tuple[Limit, ...]:
        return tuple(limit for limit in self.limits if limit.family == family)


@dataclass(frozen=True)
class LimitResult:
    """A limit evaluated on one report.

    ``figure``: the value compared (a number in ``unit``, or the categorical value); ``threshold``: the
    threshold crossed (breach, else warn), or when ``ok`` the tightest one defined (breach if any);
    ``utilisation``: figure / threshold for ``above`` limits, threshold / figure for floors (1.0 = at the
    threshold; None for categorical or unevaluated limits); ``severity``: ``error`` or ``warn`` for a
    non-ok status, None otherwise; ``bound_by``: the model versions / methods that produced the figure.
    """

    limit: str
    family: str
    metric: str
    status: str
    severity: str | None
    figure: float | str | None
    threshold: float | list[str] | None
    warn_threshold: float | list[str] | None
    breach_threshold: float | list[str] | None
    utilisation: float | None
    unit: str
    limit_severity: str
    bound_by: Any = None
    message: str = ""
    direction: str = "above"  # the limit's: ``above`` (a figure above is bad) or ``below`` (a floor)

    def of_limit(self) -> tuple[float | None, float | None]:
        """(the figure, the warn threshold) as fractions of the limit: the breach threshold, or the warn threshold
        when there is no breach; floors inverted so that more is always worse (1.0 = at the limit). None where
        undefined (a categorical or unevaluated limit, a zero threshold or figure)."""
        limit = self.breach_threshold if _is_number(self.breach_threshold) else self.warn_threshold
        if not _is_number(self.figure) or not _is_number(limit):
            return None, None
        warn = _utilisation(self.warn_threshold, limit, self.direction) if _is_number(self.warn_threshold) else None
        return _utilisation(self.figure, limit, self.direction), warn

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def fired(self) -> bool:
        return self.status in ("warn", "breach")


def _where(source: str, key: str) -> str:
    return f"{source}: {key}"


def _number(value: Any, source: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{_where(source, key)}: must be a finite number, got {value!r}")
    return float(value)


def _choice(value: Any, allowed: tuple[str, ...], source: str, key: str) -> str:
    if value not in allowed:
        raise InputError(f"{_where(source, key)}: must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _strings(value: Any, source: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"{_where(source, key)}: must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _parse_limit(raw: Any, source: str, index: int, seen: set[str]) -> Limit:
    key = f"limits[{index}]"
    if not isinstance(raw, dict):
        raise InputError(f"{_where(source, key)}: must be a mapping, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{_where(source, key + '.name')}: missing or empty")
    key = f"limits[{index}] ({name})"
    if name in seen:
        raise InputError(f"{_where(source, key + '.name')}: duplicate limit name")
    unknown = sorted(set(raw) - _LIMIT_KEYS)
    if unknown:
        raise InputError(f"{_where(source, key + '.' + unknown[0])}: unknown key (expected one of"
                         f" {', '.join(sorted(_LIMIT_KEYS))})")
    metric = raw.get("metric")
    if not isinstance(metric, str) or not metric.strip():
        raise InputError(f"{_where(source, key + '.metric')}: missing or empty")
    limit = Limit(
        name=name,
        family=_choice(raw.get("family"), FAMILIES, source, key + ".family"),
        metric=metric,
        severity=_choice(raw.get("severity", "error"), SEVERITIES, source, key + ".severity"),
        description=str(raw.get("description", "")),
        scale=_choice(raw.get("scale", "absolute"), SCALES, source, key + ".scale"),
        direction=_choice(raw.get("direction", "above"), DIRECTIONS, source, key + ".direction"),
        warn=_number(raw.get("warn"), source, key + ".warn"),
        breach=_number(raw.get("breach"), source, key + ".breach"),
        warn_values=_strings(raw.get("warn_values"), source, key + ".warn_values"),
        breach_values=_strings(raw.get("breach_values"), source, key + ".breach_values"),
        unit=str(raw.get("unit", "% of NAV" if raw.get("scale") == "pct_nav" else "")),
    )
    numeric = limit.warn is not None or limit.breach is not None
    if numeric and limit.categorical:
        raise InputError(f"{_where(source, key)}: give warn/breach numbers or warn_values/breach_values, not both")
    if not numeric and not limit.categorical:
        raise InputError(f"{_where(source, key)}: needs a warn or breach threshold (or warn_values/breach_values)")
    if limit.categorical and limit.scale != "absolute":
        raise InputError(f"{_where(source, key + '.scale')}: a categorical limit cannot be scaled")
    if limit.warn is not None and limit.breach is not None:
        inverted = limit.warn > limit.breach if limit.direction == "above" else limit.warn < limit.breach
        if inverted:
            order = "<=" if limit.direction == "above" else ">="
            raise InputError(f"{_where(source, key + '.warn')}: warn {limit.warn:g} must be {order} breach"
                             f" {limit.breach:g} for direction '{limit.direction}'")
    seen.add(name)
    return limit


def parse_limits(data: Any, source: str = "<limits>") -> LimitSet:
    """Validate the parsed YAML of a limits file; errors are one line naming ``source`` and the key."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: must be a mapping with a 'limits' list")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise InputError(f"{_where(source, unknown[0])}: unknown key (expected one of {', '.join(sorted(_TOP_KEYS))})")
    if data.get("version", 1) != 1:
        raise InputError(f"{_where(source, 'version')}: unsupported version {data.get('version')!r} (expected 1)")
    raw_limits = data.get("limits")
    if not isinstance(raw_limits, list) or not raw_limits:
        raise InputError(f"{_where(source, 'limits')}: must be a non-empty list")
    alert_on = _strings(data.get("alert_on", ["breach"]), source, "alert_on")
    for status in alert_on:
        _choice(status, ("warn", "breach"), source, "alert_on")
    seen: set[str] = set()
    limits = tuple(_parse_limit(raw, source, i, seen) for i, raw in enumerate(raw_limits))
    return LimitSet(limits=limits, source=source, alert_on=alert_on)


def load_limits(path: Path | str | None = None) -> LimitSet:
    """Load and validate a limits YAML file (default: the bundled limits for the sample book)."""
    path = Path(path) if path is not None else BUNDLED_LIMITS
    if not path.is_file():
        raise InputError(f"{path}: limits file not found")
    data = read_yaml(path)
    return parse_limits(data, str(path))


def _lookup(report: dict, metric: str) -> Any:
    value: Any = report
    for part in metric.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _bound_by(report: dict, metric: str) -> Any:
    """What produced the figure: ``report['bound_by'][metric]`` (a method name, a model version, or a
    structure of them), else None."""
    bound = report.get("bound_by")
    if not isinstance(bound, dict):
        return None
    return bound.get(metric, bound.get(metric.split(".")[0]))


def _figure(report: dict, limit: Limit) -> tuple[float | str | None, str]:
    """(figure, reason it could not be evaluated or '')."""
    value = _lookup(report, limit.metric)
    if value is None:
        return None, f"{limit.metric} not in the risk report"
    if limit.categorical:
        return str(value), ""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None, f"{limit.metric} is not a finite number ({value!r})"
    if limit.scale == "pct_nav":
        nav = report.get("nav")
        if isinstance(nav, bool) or not isinstance(nav, (int, float)) or not math.isfinite(nav) or nav <= 0:
            return None, f"NAV is not a positive number ({nav!r}): {limit.metric} cannot be scaled to % of NAV"
        return 100.0 * float(value) / float(nav), ""
    return float(value), ""


def evaluate_limit(report: dict, limit: Limit) -> LimitResult:
    """Evaluate one limit on a report (a :meth:`PortfolioRisk.to_dict`)."""
    figure, reason = _figure(report, limit)
    common = dict(limit=limit.name, family=limit.family, metric=limit.metric, unit=limit.unit,
                  limit_severity=limit.severity, bound_by=_bound_by(report, limit.metric), direction=limit.direction)
    if limit.categorical:
        warn_t = list(limit.warn_values) or None
        breach_t = list(limit.breach_values) or None
    else:
        warn_t, breach_t = limit.warn, limit.breach
    if figure is None:
        return LimitResult(status="not_evaluated", severity=None, figure=None, threshold=breach_t or warn_t,
                           warn_threshold=warn_t, breach_threshold=breach_t, utilisation=None,
                           message=f"{limit.name}: not evaluated, {reason}", **common)
    if limit.categorical:
        key = figure.lower()
        status = ("breach" if key in {v.lower() for v in limit.breach_values}
                  else "warn" if key in {v.lower() for v in limit.warn_values} else "ok")
        threshold = breach_t if status == "breach" else warn_t if status == "warn" else (breach_t or warn_t)
        utilisation = None
        shown = f"{figure}"
    else:
        def past(threshold: float | None) -> bool:
            if threshold is None:
                return False
            return figure > threshold if limit.direction == "above" else figure < threshold

        status = "breach" if past(limit.breach) else "warn" if past(limit.warn) else "ok"
        tightest = limit.breach if limit.breach is not None else limit.warn
        threshold = {"breach": limit.breach, "warn": limit.warn}.get(status, tightest)
        utilisation = _utilisation(figure, threshold, limit.direction)
        shown = f"{figure:.4g}{(' ' + limit.unit) if limit.unit else ''}"
    severity = limit.severity if status == "breach" else "warn" if status == "warn" else None
    if status == "ok":
        message = f"{limit.name}: ok, {shown}"
    else:
        rel = "in" if limit.categorical else (">" if limit.direction == "above" else "<")
        message = f"{limit.name}: {status.upper()} ({severity}), {shown} {rel} {status} threshold {threshold}"
    return LimitResult(status=status, severity=severity, figure=figure, threshold=threshold, warn_threshold=warn_t,
                       breach_threshold=breach_t, utilisation=utilisation, message=message, **common)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _utilisation(figure: float, threshold: float | None, direction: str) -> float | None:
    if threshold is None:
        return None
    if direction == "above":
        return figure / threshold if threshold != 0 else None
    return threshold / figure if figure != 0 else None


def evaluate_limits(report: dict, limits: LimitSet | list[Limit] | tuple[Limit, ...]) -> list[LimitResult]:
    """Evaluate every limit on ``report``; one result per limit, in file order."""
    items = limits.limits if isinstance(limits, LimitSet) else tuple(limits)
    return [evaluate_limit(report, limit) for limit in items]


def limit_on(results: list[LimitResult], metric: str = "var_99") -> LimitResult | None:
    """The first evaluated limit on ``metric`` (by default the headline 99% VaR's), or None when there is none."""
    return next((r for r in results if r.metric == metric and r.status != "not_evaluated"), None)


@dataclass(frozen=True)
class FamilyOutcome:
    """The result of one limit family: what its asset check reports."""

    family: str
    passed: bool
    severity: str  # "error" when any breached limit of the family has severity error, else "warn"
    results: tuple[LimitResult, ...] = field(default_factory=tuple)

    @property
    def summary(self) -> str:
        if not self.results:
            return f"no {self.family} limits configured"
        return "; ".join(r.message for r in self.results)


def family_outcome(family: str, results: list[LimitResult]) -> FamilyOutcome:
    """A family passes when none of its limits is at warn or breach (not evaluated counts as passed and
    is reported as such)."""
    mine = tuple(r for r in results if r.family == family)
    fired = [r for r in mine if r.fired]
    severity = "error" if any(r.severity == "error" for r in fired) else "warn"
    return FamilyOutcome(family=family, passed=not fired, severity=severity, results=mine)
