"""Risk limits and where their alerts go."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from risk_platform.alerts import RENOTIFY_AFTER, WEBHOOK_TIMEOUT_S, AlertSink
from risk_platform.risk.limits import LimitSet, load_limits


class RiskLimitsResource(dg.ConfigurableResource):
    """The risk limits YAML file (default: the bundled limits for the sample book)."""

    limits_path: str

    def load(self) -> LimitSet:
        return load_limits(self.limits_path)


class AlertSinkResource(dg.ConfigurableResource):
    """Where limit alerts go: an append-only JSON-lines log, and an optional webhook (POST JSON).
    ``renotify_after_minutes``: how long a limit that keeps firing stays quiet between reminders
    (:class:`risk_platform.alerts.AlertSink`)."""

    jsonl_path: str
    webhook_url: str | None = None
    webhook_timeout_s: float = WEBHOOK_TIMEOUT_S
    renotify_after_minutes: float = RENOTIFY_AFTER.total_seconds() / 60

    def sink(self) -> AlertSink:
        return AlertSink(Path(self.jsonl_path), self.webhook_url, self.webhook_timeout_s,
                         pd.Timedelta(minutes=self.renotify_after_minutes))
