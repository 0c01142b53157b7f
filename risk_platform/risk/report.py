"""The portfolio risk report and the model inputs a caller may pass to the risk engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from risk_platform.errors import InputError
from risk_platform.render.formatting import money, percent, share

if TYPE_CHECKING:
    from risk_platform.risk.limits import LimitResult

COUNTERFACTUAL_KIND = "counterfactual_correlation"  # the one stress entry that is a VaR, not a P&L


def bound_method(bound_by: str) -> str:
    """The method a ``bound_by`` entry names, readable: ``'vine_copula: vine copula (26 factors...)'`` ->
    ``'vine copula'``, ``'monte_carlo_gan[current]: ...'`` -> ``'monte carlo gan (current)'``."""
    method = (bound_by or "unknown").split(": ", 1)[0]
    return method.replace("_", " ").replace("[", " (").replace("]", ")")


def var_headline(var_99: float, nav: float, bound_by: str, currency: str = "USD", horizon_days: int = 1,
                 limit_utilisation: float | None = None) -> str:
    """``'VaR 99% 1-day USD 6.19m, 1.24% of NAV, 62% of limit, bound by vine copula'``: the limit part only when
    ``limit_utilisation`` (a fraction of the limit) is known; ``bound_by`` the figure's :attr:`PortfolioRisk.bound_by`
    entry."""
    parts = [f"VaR 99% {horizon_days}-day {money(var_99, currency)}",
             f"{percent(100.0 * var_99 / nav) if nav else 'n/a'} of NAV"]
    if limit_utilisation is not None and np.isfinite(limit_utilisation):
        parts.append(f"{share(limit_utilisation)} of limit")
    return ", ".join([*parts, f"bound by {bound_method(bound_by)}"])


def worst_first(results: Mapping[str, dict]) -> dict[str, dict]:
    """Stress results (``StressResult.to_dict``) by name, the largest loss first, the counterfactual correlation
    (a VaR, not a P&L) last."""
    return dict(sorted(results.items(), key=lambda item: (item[1]["kind"] == COUNTERFACTUAL_KIND, item[1]["pnl"])))


@dataclass(frozen=True)
class ScenarioSet:
    """Factor-return scenarios (n, k) over ``symbols`` (log returns; bp for yields), with who made them."""

    symbols: tuple[str, ...]
    returns: np.ndarray
    label: str


@dataclass(frozen=True)
class ModelInputs:
    """Outputs of one aliased set of model versions, as arrays (no model objects: risk/ never imports torch).

    ``symbols`` orders the columns of every array. All optional:

    * ``vols`` (k,): 1-day volatility forecasts in return units (log return, bp for yields), e.g. LSTM;
    * ``correlation`` (k, k): e.g. the GNN's; a missing one is taken from EWMA (and said so);
    * ``scenarios``: name -> (n, k) 1-day scenarios, e.g. ``{"gan": ..., "vae": ...}`` (50,000 each; float32
      is kept as float32), or a :class:`ScenarioSet` when that model covers other symbols; book factors a
      scenario set lacks do not move and the method is marked incomplete (excluded from headlines);
    * ``stress_scenarios``: the same for stress-regime scenarios (the generated stress test);
    * ``regime_probability``: ``{"low": p, "normal": p, "high": p}`` for the next day;
    * ``label``: e.g. ``"current"``; ``versions``: component -> version, e.g. ``{"vols": "lstm_vol v3",
      "correlation": "gnn_corr v2", "gan": "gan_scenarios v1", "regime": "lstm_vol v3"}``;
    * ``trained_through``: version -> the last day of its training data (``YYYY-MM-DD``; ``""``: unknown).
    """

    label: str
    symbols: tuple[str, ...] = ()
    vols: np.ndarray | None = None
    correlation: np.ndarray | None = None
    scenarios: Mapping[str, np.ndarray | ScenarioSet] = field(default_factory=dict)
    stress_scenarios: Mapping[str, np.ndarray | ScenarioSet] = field(default_factory=dict)
    regime_probability: Mapping[str, float] | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    trained_through: Mapping[str, str] = field(default_factory=dict)

    def version(self, component: str) -> str:
        """``'<version> (<label>)'`` for a component, or the label alone."""
        v = self.versions.get(component)
        return f"{v} ({self.label})" if v else f"{component} ({self.label})"


def model_columns(array: np.ndarray | ScenarioSet, symbols: Sequence[str], names: Sequence[str]
                  ) -> tuple[np.ndarray, list[str]]:
    """Columns of a model ``array`` (.., len(symbols)) reordered to the book's factors ``names``; factors the
    model lacks are 0 (no move) and listed. A :class:`ScenarioSet` carries its own symbols. (A copy of the
    columns unless the order is already the book's: revalue large scenario arrays in place with
    :func:`column_index` instead.)"""
    array, columns, missing = column_index(array, symbols, names)
    if columns is None:
        return array, []
    return take_columns(array, columns), missing


def column_index(array: np.ndarray | ScenarioSet, symbols: Sequence[str], names: Sequence[str]
                 ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """(the model ``array``, the column of each of the book's factors ``names`` in it (-1 where the model lacks
    the factor; None when the columns are already the book's), the factors lacked)."""
    if isinstance(array, ScenarioSet):
        array, symbols = array.returns, array.symbols
    array = np.asarray(array)
    if array.shape[-1] != len(symbols):
        raise InputError(f"model array has {array.shape[-1]} columns but {len(symbols)} symbols are named")
    if tuple(symbols) == tuple(names):
        return array, None, []
    index = {s: i for i, s in enumerate(symbols)}
    return array, np.array([index.get(n, -1) for n in names], dtype=int), [n for n in names if n not in index]


def take_columns(array: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
    """``array[..., columns]`` with 0 where ``columns`` is -1 (``columns`` None: ``array`` itself)."""
    if columns is None:
        return array
    out = array[..., np.maximum(columns, 0)]
    out[..., columns < 0] = 0.0
    return out


@dataclass(frozen=True)
class PortfolioRisk:
    """The risk report of one book on one date (losses positive, USD, 1 day).

    Headline figures (``var_95, var_99, cvar_95, es_99``) are the most conservative complete method's;
    ``bound_by`` names, for every figure, the method and model version (or estimator) that produced it.
    ``methods`` lists every method's figures side by side.

    ``stale`` / ``stale_symbols``: held prices older than the as-of date (by more than
    ``STALE_AFTER_SESSIONS``). ``feed_age_sessions``: each usable feed's venue sessions between its last
    value and ``evaluation_date`` (today, UTC, unless set for a historical run); ``stale_against_clock`` when
    one is more than ``max_data_age_sessions`` old, ``stale_against_clock_reason`` saying which.

    ``data_flags``: one entry per market data point the plausibility gate removed (a suspect) or kept
    unconfirmed (a latest price beyond its limit), with the positions, methods, headline figures, stress
    replays and valuation it affects (:class:`~risk_platform.risk.data_flags.DataFlag`; ``statement``: one line).

    ``model_age_flags``: one WARN per model version used whose training data end more than
    ``max_model_age_days`` before the as-of date, or whose training window is unknown (:func:`model_age_flags`).
    """

    asof: str
    portfolio: str
    nav: float
    nav_source: str
    var_95: float
    var_99: float
    cvar_95: float
    es_99: float
    portfolio_volatility: float
    methods: dict
    positions: list[dict]
    vol_contribution: dict[str, float]
    largest_position_pct: float
    herfindahl_index: float
    flagged_positions: list[dict]
    coverage_pct_gross: float
    notes: list[str] = field(default_factory=list)
    bound_by: dict[str, str] = field(default_factory=dict)
    currency: str = "USD"
    horizon_days: int = 1
    es_95: float = float("nan")
    largest_position: str = ""
    sector_concentration: dict[str, float] = field(default_factory=dict)
    asset_class_concentration: dict[str, float] = field(default_factory=dict)
    region_concentration: dict[str, float] = field(default_factory=dict)
    liquidity_score: float = float("nan")
    days_to_liquidate_portfolio: float = float("nan")
    liquidity: dict = field(default_factory=dict)
    stress_test_results: dict[str, dict] = field(default_factory=dict)
    current_regime: str = "unknown"
    regime_probability: dict[str, float] = field(default_factory=dict)
    regime_calibration: dict = field(default_factory=dict)
    model_versions: list[str] = field(default_factory=list)
    stale: bool = False
    stale_symbols: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    evaluation_date: str = ""
    feed_age_sessions: dict[str, int] = field(default_factory=dict)
    max_data_age_sessions: int = 0
    stale_against_clock: bool = False
    stale_against_clock_reason: str = ""
    data_flags: list[dict] = field(default_factory=list)
    model_age_flags: list[dict] = field(default_factory=list)

    @property
    def unconfirmed_prices(self) -> list[dict]:
        """The data flags of unconfirmed prices the figures use (the feed's latest price, kept)."""
        return [f for f in self.data_flags if f["unconfirmed_price_used"]]

    def data_age_line(self) -> str:
        """One line: the data's age on the evaluation date, and whether it is stale against the clock."""
        if self.stale_against_clock:
            return f"STALE AGAINST THE CLOCK: {self.stale_against_clock_reason}"
        oldest = max(self.feed_age_sessions.values(), default=0)
        return (f"data age on the evaluation date {self.evaluation_date}: at most {oldest} sessions"
                f" (limit {self.max_data_age_sessions})")

    def to_dict(self) -> dict:
        return _json_ready(asdict(self))

    def binding(self, figure: str = "var_99") -> str:
        """The method that produced ``figure``, readable: ``'vine copula'``, ``'monte carlo gan (current)'``."""
        return bound_method(self.bound_by.get(figure, "unknown"))

    def headline(self, limit_utilisation: float | None = None) -> str:
        """One line with units (:func:`var_headline`): "VaR 99% 1-day USD 6.19m, 1.24% of NAV, 62% of limit,
        bound by vine copula" (the limit part only when ``limit_utilisation``, a fraction of the limit, is given)."""
        return var_headline(self.var_99, self.nav, self.bound_by.get("var_99", ""), self.currency, self.horizon_days,
                            limit_utilisation)

    def stress_losses(self) -> list[dict]:
        """The stress scenarios that are P&Ls (every one but the counterfactual correlation), largest loss first."""
        return [s for s in worst_first(self.stress_test_results).values() if s["kind"] != COUNTERFACTUAL_KIND]

    def counterfactual_var(self) -> dict | None:
        """The counterfactual correlation entry (a parametric VaR under crisis correlations), or None."""
        return next((s for s in self.stress_test_results.values() if s["kind"] == COUNTERFACTUAL_KIND), None)

    def stress_lines(self, by_asset_class: bool = False) -> list[str]:
        """The stress section: losses positive in USD and % of NAV, worst first (each over its own horizon),
        then the counterfactual correlation apart, as the VaR it is."""
        lines = [f"  stress losses ({self.currency}, losses positive, each over its scenario's horizon),"
                 f" worst first:"]
        for s in self.stress_losses():
            classes = ", ".join(f"{k} {-v:,.0f}" for k, v in s["pnl_by_asset_class"].items() if v)
            lines.append(f"    {s['name']:<44}{-s['pnl']:>15,.0f}{-s['pnl_pct_nav']:>8.2f}%"
                         + (f"   {classes}" if by_asset_class else ""))
        counterfactual = self.counterfactual_var()
        if counterfactual is not None:
            details = counterfactual["details"]
            lines.append(f"  counterfactual correlation (a VaR, not a stress P&L): VaR {details['confidence']:.0%}"
                         f" {self.horizon_days}-day {money(-counterfactual['pnl'], self.currency)},"
                         f" {-counterfactual['pnl_pct_nav']:.2f}% of NAV under crisis correlations with the hedges"
                         f" inverted")
            lines.append(f"    {details['statement']}")
        return lines

    def summary(self, var_limit: LimitResult | None = None) -> str:
        """The report as text: conventions once at the top (1-day, USD, losses positive), the headline with % of
        NAV and, given ``var_limit`` (the limit on ``var_99``), its utilisation and status."""
        limit = "" if var_limit is None else (f"; limit {var_limit.limit} {var_limit.status}"
                                              f" (warn {var_limit.warn_threshold}, breach"
                                              f" {var_limit.breach_threshold} {var_limit.unit})")
        bindings: dict[str, list[str]] = {}
        for figure, text in self.bound_by.items():
            bindings.setdefault(text, []).append(figure)
        lines = [
            f"{self.portfolio} as of {self.asof}: NAV {self.nav:,.0f} {self.currency} ({self.nav_source});"
            f" figures {self.horizon_days}-day horizon, {self.currency}, losses positive"
            + ("  [STALE PRICES: " + ", ".join(self.stale_symbols) + "]" if self.stale else ""),
            f"  {self.data_age_line()}",
            f"  {self.headline(None if var_limit is None else var_limit.of_limit()[0])}{limit}",
            f"  headline (most conservative): VaR95 {self.var_95:,.0f}  VaR99 {self.var_99:,.0f}"
            f"  ES95 {self.cvar_95:,.0f}  ES99 {self.es_99:,.0f}  daily vol {self.portfolio_volatility:,.0f}",
            f"  {'method':<34}{'VaR95':>13}{'VaR99':>13}{'ES95':>13}{'ES99':>13}  bound by",
        ]
        for m in self.methods.values():
            lines.append(f"  {m['name']:<34}{m['var_95']:>13,.0f}{m['var_99']:>13,.0f}{m['es_95']:>13,.0f}"
                         f"{m['es_99']:>13,.0f}  {m['bound_by']}{'' if m['complete'] else ' (INCOMPLETE)'}")
        lines += [f"  {', '.join(figures)} bound by {text}" for text, figures in bindings.items()]
        lines.append(f"  largest position {self.largest_position} {self.largest_position_pct:.1f}% of NAV,"
                     f" HHI {self.herfindahl_index:.3f}, coverage {self.coverage_pct_gross:.1f}% of gross")
        if self.liquidity:
            lines.append(f"  liquidity score {self.liquidity_score:.3f}, days to liquidate"
                         f" {self.days_to_liquidate_portfolio:.3f} ({self.liquidity['slowest_position']}),"
                         f" LVaR99 {self.liquidity['lvar_99']:,.0f}")
        shares = self.asset_class_concentration.items()
        lines.append("  by asset class: " + ", ".join(f"{k} {v:.1f}%" for k, v in shares))
        lines.append(f"  regime {self.current_regime}, next-day probability "
                     + ", ".join(f"{k} {v:.2f}" for k, v in self.regime_probability.items()))
        if self.stress_test_results:
            lines += self.stress_lines()
        lines += [f"  FLAGGED {f['symbol']}: {f['reason']}" for f in self.flagged_positions]
        lines += [f"  DATA FLAG {f['statement']}" for f in self.data_flags]
        lines += [f"  WARN MODEL AGE {f['statement']}" for f in self.model_age_flags]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def model_age_flags(model_inputs: Sequence[ModelInputs], asof: pd.Timestamp, limit_days: int) -> list[dict]:
    """One flag per model version used (once, whatever its aliases) whose training data end more than
    ``limit_days`` calendar days before ``asof``, or whose end is unknown: ``model``, ``aliases``, ``train_end``,
    ``age_days``, ``limit_days`` and the one-line ``statement``."""
    used: dict[str, list[str]] = {}
    ends: dict[str, str] = {}
    for mi in model_inputs:
        for version in dict.fromkeys(mi.versions.values()):
            used.setdefault(version, []).append(mi.label)
            ends[version] = mi.trained_through.get(version, "")
    flags = []
    for version, aliases in used.items():
        end = ends[version]
        age = int((asof.normalize() - pd.Timestamp(end).normalize()).days) if end else None
        if age is not None and age <= limit_days:
            continue
        named = f"{version} ({', '.join(aliases)})"
        statement = (f"{named}: training data end {end}, {age} days before the as-of date {asof:%Y-%m-%d}"
                     f" (limit {limit_days})" if end else
                     f"{named}: the end of its training data is not recorded (registered before training windows"
                     f" were); its age against the as-of date {asof:%Y-%m-%d} is unknown")
        flags.append({"model": version, "aliases": aliases, "train_end": end or None, "age_days": age,
                      "limit_days": limit_days, "statement": statement})
    return flags


def _json_ready(x):
    if isinstance(x, dict):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_ready(v) for v in x]
    if isinstance(x, np.ndarray):
        return _json_ready(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x
