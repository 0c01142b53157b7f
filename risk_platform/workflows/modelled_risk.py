"""The pipeline's portfolio risk: every method, with the model inputs of each alias read from the run's pinned
registry (:mod:`risk_platform.models.pinned`), on the gated market inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from risk_platform.errors import InputError, RegistryUnavailable
from risk_platform.families import MODEL_NAMES
from risk_platform.portfolio.positions import Portfolio
from risk_platform.reporting.risk_views import headline_utilisation
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.limits import evaluate_limits, load_limits
from risk_platform.risk.report import PortfolioRisk
from risk_platform.validation.book_backtest import recent_book_backtest
from risk_platform.validation.var_forecasts import VarForecast
from risk_platform.workflows.assessment import assess
from risk_platform.workflows.market_inputs import MarketInputs

if TYPE_CHECKING:
    from risk_platform.models.inference import AliasedInputs
    from risk_platform.models.registry import ModelRegistry


@dataclass(frozen=True)
class ModelledRisk:
    """A report computed with the aliased model sets, and what a reviewer should know about those models."""

    report: PortfolioRisk
    models: AliasedInputs
    model_lineage: dict[str, dict[str, str]] = field(default_factory=dict)  # "lstm_vol v3" -> its training lineage

    def to_dict(self) -> dict:
        """The stored value: the report with the models' notes and guardrail outcomes."""
        return {**self.report.to_dict(), "model_notes": self.models.notes, "guardrails": self.models.guardrails,
                "registry_error": self.models.registry_error,
                "unaudited_alias_moves": [move.to_dict() for move in self.models.unaudited]}

    def lineage_facts(self) -> dict:
        """What lineage keeps: the headline figures and what produced them."""
        report = self.report
        return {"asof": report.asof, "var_95": report.var_95, "var_99": report.var_99, "cvar_95": report.cvar_95,
                "es_99": report.es_99, "bound_by": report.bound_by, "flagged": report.flagged_positions,
                "model_versions": report.model_versions, "aliases": self.models.aliases,
                "guardrails": self.models.guardrails,
                "unaudited_alias_moves": [move.to_dict() for move in self.models.unaudited],
                "model_training": self.model_lineage,
                "upstream_runs": {version: facts["dagster_run_id"] for version, facts in self.model_lineage.items()
                                  if facts.get("dagster_run_id", "unknown") != "unknown"}}


def assess_with_models(portfolio: Portfolio, market: MarketInputs, registry: ModelRegistry, daily: pd.DataFrame,
                       override_log: Path | None = None, config: RiskConfig | None = None,
                       actor: str = "risk assessment") -> ModelledRisk:
    """Every method with each aliased model set (``registry``: pass the run's
    :class:`~risk_platform.models.pinned.PinnedRegistry` so every step of a run uses the same versions);
    ``config``: the methodology and the evaluation date (default :class:`RiskConfig`: today, UTC)."""
    from risk_platform.models.inference import aliased_model_inputs  # torch: not at the code location's start-up

    models = aliased_model_inputs(registry, daily, tuple(MODEL_NAMES), override_log=override_log, actor=actor)
    return ModelledRisk(assess(portfolio, market, config, model_inputs=models.inputs), models,
                        versions_lineage(registry, models.aliases))


def versions_lineage(registry: ModelRegistry, aliases: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Each aliased version's training lineage (:meth:`ModelRegistry.version_lineage`), keyed ``'<model> v<n>'``;
    a version the registry cannot answer for says why (``error``)."""
    out = {}
    for key, by_alias in aliases.items():
        for version in sorted(set(by_alias.values())):
            try:
                out[f"{key} v{version}"] = registry.version_lineage(key, version)
            except (InputError, RegistryUnavailable) as exc:
                out[f"{key} v{version}"] = {"error": str(exc)}
    return out


def recent_var_backtest(portfolio: Portfolio, market: MarketInputs) -> VarForecast | str:
    """The book's VaR 99% against its P&L over the last 250 days (:func:`recent_book_backtest`), or why not (a
    history shorter than the method's window, every position on an unavailable feed)."""
    try:
        return recent_book_backtest(portfolio, market.panel, market.instruments, market.unavailable, market.returns)
    except InputError as exc:
        return str(exc)


def headline_limit_utilisation(report: dict, limits_path: str) -> float | None:
    """The utilisation of the headline VaR limit under the limits file (None when the file lacks that limit or
    cannot be read: the risk_limits asset reports the file's error)."""
    try:
        limits = load_limits(limits_path)
    except InputError:
        return None
    return headline_utilisation(evaluate_limits(report, limits))
