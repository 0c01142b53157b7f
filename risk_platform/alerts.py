"""Limit alerts: records of fired limits, appended to an append-only JSON-lines log, optionally POSTed to an
http(s) webhook (any other URL is refused when the sink is configured). Sending never raises: a failed delivery
is logged and reported back as the delivery status, the run carries on (the JSONL log is the record of truth).

An alert is an episode per (portfolio, limit), not one record per run: the intraday job re-evaluates the
limits every 15 minutes, and a breach that persists must not page anyone 36 times a day.
:func:`triage_alerts` compares the limits fired by this run with the open episodes in the log and keeps
``opened`` (a limit fires that had no open episode), ``escalated``/``eased`` (its status changed, e.g. warn to
breach), ``reminder`` (still firing, and the last record of the episode is ``renotify_after`` old) and
``cleared`` (an open episode whose limit no longer fires); an unchanged firing inside the interval is
suppressed (counted in the run's metadata; the asset check still fails on every run).

:func:`check_limits` is the whole flow of one run: evaluate the limits, triage the fired ones against the log,
append and send what is due (:class:`AlertSink`).
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from risk_platform.data.loading import sha256_file
from risk_platform.errors import InputError
from risk_platform.io import append_line, read_json_lines
from risk_platform.risk.limits import LimitResult, LimitSet, evaluate_limits

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_S = 5.0
RENOTIFY_AFTER = pd.Timedelta(minutes=240)


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
    event: str = "opened"
    opened_at: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The episode an alert belongs to: (portfolio, limit)."""
        return self.portfolio, self.limit

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


STATUS_RANK = {"ok": 0, "not_evaluated": 0, "warn": 1, "breach": 2}


@dataclass(frozen=True)
class Triage:
    """What one run's fired limits mean against the open episodes: ``notify`` (records to log and send, each
    with its ``event``) and ``suppressed`` (unchanged firings inside the re-notification interval)."""

    notify: list[Alert]
    suppressed: list[Alert]

    def count(self, event: str) -> int:
        return sum(a.event == event for a in self.notify)


def open_episodes(records: Iterable[dict]) -> dict[tuple[str, str], Alert]:
    """The last logged record of every (portfolio, limit) episode that is not cleared."""
    last: dict[tuple[str, str], Alert] = {}
    for record in records:
        alert = Alert(**record)
        last[alert.key] = alert
    return {key: alert for key, alert in last.items() if alert.event != "cleared"}


def triage_alerts(fired: Iterable[Alert], results: Iterable[LimitResult], report: dict, records: Iterable[dict],
                  renotify_after: pd.Timedelta, *, run_id: str | None = None,
                  now: pd.Timestamp | None = None) -> Triage:
    """Episode events for this run (module docstring): ``fired`` from :func:`alerts_for`, ``results`` every
    evaluated limit of the report (to clear episodes), ``records`` the alert log so far."""
    when = now or pd.Timestamp.now(tz="UTC")
    episodes = open_episodes(records)
    notify, suppressed = [], []
    firing = set()
    for alert in fired:
        firing.add(alert.key)
        previous = episodes.get(alert.key)
        if previous is None:
            notify.append(replace(alert, event="opened", opened_at=alert.time))
            continue
        opened = replace(alert, opened_at=previous.opened_at or previous.time)
        if STATUS_RANK[alert.status] != STATUS_RANK[previous.status]:
            rising = STATUS_RANK[alert.status] > STATUS_RANK[previous.status]
            notify.append(replace(opened, event="escalated" if rising else "eased"))
        elif when - pd.Timestamp(previous.time) >= renotify_after:
            notify.append(replace(opened, event="reminder"))
        else:
            suppressed.append(replace(opened, event="ongoing"))
    portfolio = str(report.get("portfolio", ""))
    current = {r.limit: r for r in results}
    for key, previous in episodes.items():
        if key[0] != portfolio or key in firing:
            continue
        result = current.get(key[1])
        notify.append(replace(
            previous, time=when.isoformat(), event="cleared", opened_at=previous.opened_at or previous.time,
            status=result.status if result else "not_evaluated", severity=previous.severity,
            figure=result.figure if result else None, utilisation=result.utilisation if result else None,
            asof=str(report.get("asof", "")), dagster_run_id=run_id,
            message=(f"cleared: {result.message}" if result and result.message else
                     "cleared: the limit no longer fires" if result else "cleared: the limit is no longer defined")))
    return Triage(notify, suppressed)


def append_alerts(path: Path | str, alerts: Iterable[Alert]) -> int:
    """Append each alert as one JSON line (never rewrites the file); returns how many were written."""
    n = 0
    for alert in alerts:
        append_line(Path(path), alert.to_json())
        n += 1
    return n


def read_alerts(path: Path | str) -> list[dict]:
    """The alert log as a list of dicts (empty when the log does not exist yet). A torn last line is skipped with
    a warning (:func:`~risk_platform.io.read_json_lines`); a line that is not an alert is an InputError."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for number, record in read_json_lines(path, "an alert record"):
        try:
            Alert(**record)
        except TypeError:
            raise InputError(f"{path} line {number}: not an alert record") from None
        records.append(record)
    return records


@dataclass(frozen=True)
class Delivery:
    """The outcome of one webhook POST."""

    ok: bool
    status: int | None = None
    error: str = ""


WEBHOOK_SCHEMES = ("http", "https")


def check_webhook_url(url: str) -> str:
    """``url`` when it is an http(s) URL with a host; any other (``file://``, ``data:``, a bare word) is an
    InputError naming it (the sink refuses it when configured)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in WEBHOOK_SCHEMES or not parts.hostname:
        raise InputError(f"alert webhook URL {url!r}: only http:// or https:// URLs with a host are accepted")
    return url


def send_webhook(url: str, alerts: list[Alert], timeout: float = WEBHOOK_TIMEOUT_S) -> Delivery:
    """POST ``{"alerts": [...]}`` as JSON to an http(s) ``url``. Never raises: a refused URL, a connection or
    protocol error, a timeout or a non-2xx answer are logged and returned as a failed :class:`Delivery`."""
    try:
        check_webhook_url(url)
    except InputError as exc:
        log.warning("alert webhook not sent for %d alert(s): %s", len(alerts), exc)
        return Delivery(False, None, str(exc))
    body = json.dumps({"alerts": [a.to_dict() for a in alerts]}, default=str).encode()
    try:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "risk-platform-alerts"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) checked above)
            status = response.status
    except urllib.error.HTTPError as exc:
        log.warning("alert webhook answered HTTP %s for %d alert(s)", exc.code, len(alerts))
        return Delivery(False, exc.code, f"HTTP {exc.code}")
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError, ValueError) as exc:
        reason = " ".join(str(getattr(exc, "reason", exc)).split())
        log.warning("alert webhook failed for %d alert(s): %s", len(alerts), reason)
        return Delivery(False, None, f"{exc.__class__.__name__}: {reason}")
    ok = isinstance(status, int) and 200 <= status < 300
    return Delivery(ok, status, "" if ok else f"HTTP {status}")


@dataclass(frozen=True)
class AlertSink:
    """Where limit alerts go: the append-only JSON-lines log, and an optional webhook (POST JSON).
    ``renotify_after``: a limit that keeps firing is recorded and sent again (a ``reminder``) once its episode's
    last record is this old; in between, runs suppress it (:func:`triage_alerts`)."""

    jsonl_path: Path
    webhook_url: str | None = None
    webhook_timeout_s: float = WEBHOOK_TIMEOUT_S
    renotify_after: pd.Timedelta = RENOTIFY_AFTER

    def __post_init__(self) -> None:
        if self.webhook_url:
            check_webhook_url(self.webhook_url)

    def triage(self, fired: list[Alert], results: list[LimitResult], report: dict, run_id: str | None) -> Triage:
        """This run's episode events against the log (opened, escalated/eased, reminder, cleared)."""
        return triage_alerts(fired, results, report, read_alerts(self.jsonl_path), self.renotify_after,
                             run_id=run_id)

    def emit(self, alerts: list[Alert]) -> Delivery | None:
        """Append the alerts to the log, then POST them to the webhook if one is set (a failed POST is logged
        and returned, never raised). None when there was nothing to send or no webhook."""
        append_alerts(self.jsonl_path, alerts)
        if not alerts or not self.webhook_url:
            return None
        return send_webhook(self.webhook_url, alerts, timeout=self.webhook_timeout_s)

    def webhook_status(self, delivery: Delivery | None) -> str:
        """The webhook's part in a run, in words."""
        if not self.webhook_url:
            return "not configured"
        if delivery is None:
            return "nothing to send"
        return "delivered" if delivery.ok else f"FAILED: {delivery.error}"


@dataclass(frozen=True)
class LimitCheck:
    """One run's limits on a report: every result, the alert triage, and the webhook delivery (None when
    nothing was sent)."""

    results: list[LimitResult]
    triage: Triage
    delivery: Delivery | None

    @property
    def alerts(self) -> list[Alert]:
        """The alerts written (and sent) by this run."""
        return self.triage.notify

    def status_counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in ("ok", "warn", "breach", "not_evaluated")}

    def lineage_facts(self, report: dict, limits_file: str) -> dict:
        """What lineage keeps: the limits file and its sha256, each limit's status, how many alerts."""
        return {"limits_file": limits_file, "sha256": sha256_file(Path(limits_file)), "asof": report.get("asof"),
                "statuses": {r.limit: r.status for r in self.results}, "alerts": len(self.alerts)}

    def to_dict(self, report: dict, limits_file: str) -> dict:
        """The stored value of the ``risk_limits`` asset."""
        return {"asof": report.get("asof"), "portfolio": report.get("portfolio"), "limits_file": limits_file,
                "results": [r.to_dict() for r in self.results], "alerts": [a.to_dict() for a in self.alerts],
                "alerts_suppressed": [a.to_dict() for a in self.triage.suppressed]}


ALIASES_AUDITED = "model_aliases_audited"
MODEL_AGE = "model_training_age"


def governance_results(report: dict) -> list[LimitResult]:
    """The model-governance finding alerted like a limit: model aliases moved outside the audited path
    (``unaudited_alias_moves`` of a report computed with models) breach while any is found; ``ok`` clears
    the episode. None for a report without models."""
    if "unaudited_alias_moves" not in report:
        return []
    moves = report["unaudited_alias_moves"]
    message = "; ".join(move["message"] for move in moves) or "every model alias is where the audit log puts it"
    return [LimitResult(limit=ALIASES_AUDITED, family="governance", metric="unaudited_alias_moves",
                        status="breach" if moves else "ok", severity="error" if moves else None,
                        figure=float(len(moves)), threshold=0.0, warn_threshold=None, breach_threshold=0.0,
                        utilisation=None, unit="moves", limit_severity="error", message=message)]


def model_age_results(report: dict) -> list[LimitResult]:
    """The models' training age as a WARN-level finding: ``warn`` while a model version used has training data
    ending more than the report's limit before its as-of date, or an unknown end (``model_age_flags``; the
    figure: the oldest age in days, None when only unknown ones); ``ok`` clears it. None for a report computed
    without models."""
    if not report.get("model_versions") or "model_age_flags" not in report:
        return []
    flags = report["model_age_flags"]
    ages = [f["age_days"] for f in flags if f["age_days"] is not None]
    limit = flags[0]["limit_days"] if flags else None
    message = "; ".join(f["statement"] for f in flags) or "every model's training data are recent enough"
    return [LimitResult(limit=MODEL_AGE, family="governance", metric="model_age_days",
                        status="warn" if flags else "ok", severity="warn" if flags else None,
                        figure=float(max(ages)) if ages else None, threshold=limit, warn_threshold=limit,
                        breach_threshold=None, utilisation=None, unit="days", limit_severity="warn",
                        bound_by=[f["model"] for f in flags], message=message)]


def check_limits(report: dict, limit_set: LimitSet, sink: AlertSink, run_id: str | None = None) -> LimitCheck:
    """Evaluate every limit on ``report``, the governance finding (:func:`governance_results`) and the models'
    training age (:func:`model_age_results`), triage the fired ones against the alert log, then append and send
    the episode events that are due."""
    results = evaluate_limits(report, limit_set) + governance_results(report) + model_age_results(report)
    fired = alerts_for(results, report, run_id=run_id, alert_on=limit_set.alert_on)
    triage = sink.triage(fired, results, report, run_id)
    return LimitCheck(results, triage, sink.emit(triage.notify))
