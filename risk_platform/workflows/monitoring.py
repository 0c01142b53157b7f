"""Monitoring of the LSTM in production (``current``, else ``experimental``): drift against what validation
expects (:func:`~risk_platform.validation.drift.lstm_drift`), recorded in the audit log (a breach is a
monitoring failure, which blocks ``stable`` and makes the drift sensor request retraining); in shadow mode
the ``experimental`` version's forecasts beside ``current``'s, scored on the latest day and appended to the
shadow log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from risk_platform.features.market_stress import MarketRoles
from risk_platform.models.audit import AuditLog
from risk_platform.models.governance import record_monitoring
from risk_platform.models.shadow import append_shadow_log, monitoring_plan

if TYPE_CHECKING:
    from risk_platform.models.registry import ModelRegistry
    from risk_platform.validation.drift import DriftReport

MONITORED_MODEL = "lstm_vol"
NO_CHALLENGER = "no experimental version beside current"


@dataclass(frozen=True)
class Monitoring:
    """The alias and drift report of the monitored version (None: no version to monitor) and the shadow
    comparison's summary."""

    alias: str | None
    drift: DriftReport | None
    shadow: str = NO_CHALLENGER

    def to_dict(self) -> dict:
        if self.drift is None:
            return {"status": "no LSTM version carries current or experimental"}
        return {**self.drift.to_dict(), "alias": self.alias, "shadow": self.shadow}

    def lineage_facts(self) -> dict:
        """The monitored version, its alias and the drift figures (empty when nothing was monitored)."""
        return {} if self.drift is None else {"alias": self.alias, **self.drift.to_dict()}


def monitor_lstm(registry: ModelRegistry, audit: AuditLog, shadow_log: Path, daily: pd.DataFrame,
                 exposure: pd.Series, run_id: str, actor: str) -> Monitoring:
    """Drift of the production LSTM on ``daily`` with the validation book ``exposure``, recorded in ``audit``;
    the shadow comparison appended to ``shadow_log`` when a different version carries ``experimental``."""
    plan = monitoring_plan(registry.aliases(MONITORED_MODEL))
    if plan is None:
        return Monitoring(None, None)
    from risk_platform.validation.drift import lstm_drift, shadow_comparison  # torch: not at start-up

    monitored = registry.load(MONITORED_MODEL, plan.monitored)
    symbols, seq_len = monitored.metadata["symbols"], int(monitored.metadata["seq_len"])
    drift = lstm_drift(monitored.module, symbols, seq_len, daily, exposure, monitored.version,
                       market=MarketRoles.from_metadata(monitored.metadata.get("market_inputs")))
    record_monitoring(audit, MONITORED_MODEL, monitored.version, not drift.breach, drift.summary(), actor=actor)
    if not plan.shadow:
        return Monitoring(plan.monitored, drift)
    comparison = shadow_comparison(monitored, registry.load(MONITORED_MODEL, "experimental"), daily)
    append_shadow_log(shadow_log, comparison, run_id=run_id)
    return Monitoring(plan.monitored, drift, comparison.summary())
