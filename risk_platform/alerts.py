"""Limit alerts: one record per fired limit, appended to an append-only JSON-lines log, optionally POSTed
to a webhook. Sending never raises: a failed delivery is logged and reported back, the run carries on
(the JSONL log is the record of truth)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from risk_platform.io import append_line
from risk_platform.risk.limits import LimitResult

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Alert:
    """A fired limit on one risk report.

    ``model_versions``: what produced the figure (``bound_by`` of the report for that figure: a method,
    a registered model version, or a structure of them), plus the report's ``model_versions`` when it
    carries them.
    """

    time: str
    limit: str
    family: str
    status: str
    severity: str
    figure: float | str | None
    threshold: Any
    utilisation: float | None
    unit: str
    portfolio: str
    asof: str
    model_versions: Any
    dagster_run_id: str | None
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)


def alerts_for(results: Iterable[LimitResult], report: dict, *, run_id: str | None = None,
               alert_on: Iterable[str] = ("breach",), now: pd.Timestamp | None = None) -> list[Alert]:
    """The alerts for the results whose status is in ``alert_on`` (``breach``, optionally ``warn``)."""
    when = (now or pd.Timestamp.now(tz="UTC")).isoformat()
    statuses = set(alert_on)
    report_versions = report.get("model_versions")
    out = []
    for result in results:
        if result.status not in statuses:
            continue
        versions: Any = result.bound_by
        if report_versions:
            versions = {"figure": result.bound_by, "report": report_versions}
        out.append(Alert(time=when, limit=result.limit, family=result.family, status=result.status,
                         severity=result.severity or "warn", figure=result.figure, threshold=result.threshold,
                         utilisation=result.utilisation, unit=result.unit,
                         portfolio=str(report.get("portfolio", "")), asof=str(report.get("asof", "")),
                         model_versions=versions, dagster_run_id=run_id, message=result.message))
    return out


def append_alerts(path: Path | str, alerts: Iterable[Alert]) -> int:
    """Append each alert as one JSON line (never rewrites the file); returns how many were written."""
    n = 0
    for alert in alerts:
        append_line(Path(path), alert.to_json())
        n += 1
    return n


def read_alerts(path: Path | str) -> list[dict]:
    """The alert log as a list of dicts (empty when the log does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass(frozen=True)
class Delivery:
    """The outcome of one webhook POST."""

    ok: bool
    status: int | None = None
    error: str = ""


def send_webhook(url: str, alerts: list[Alert], timeout: float = WEBHOOK_TIMEOUT_S) -> Delivery:
    """POST ``{"alerts": [...]}`` as JSON to ``url``. Never raises: failures are logged and returned."""
    body = json.dumps({"alerts": [a.to_dict() for a in alerts]}, default=str).encode()
    try:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "risk-platform-alerts"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (operator-set URL)
            status = response.status
    except urllib.error.HTTPError as exc:
        log.warning("alert webhook answered HTTP %s for %d alert(s)", exc.code, len(alerts))
        return Delivery(False, exc.code, f"HTTP {exc.code}")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        log.warning("alert webhook failed for %d alert(s): %s", len(alerts), reason)
        return Delivery(False, None, f"{exc.__class__.__name__}: {reason}")
    return Delivery(200 <= status < 300, status, "" if 200 <= status < 300 else f"HTTP {status}")
