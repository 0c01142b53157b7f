"""Risk limits on the portfolio risk report: one asset check per limit family, alerts for fired limits."""

from pathlib import Path

import dagster as dg
import pandas as pd

from assets.metadata import table
from resources import AlertSinkResource, LineageResource, RiskLimitsResource
from risk_platform.alerts import alerts_for
from risk_platform.data.loading import sha256_file
from risk_platform.risk.limits import FAMILIES, evaluate_limits, family_outcome

FAMILY_DESCRIPTIONS = {
    "var": "Value at Risk (95% / 99%, 1 day) as % of NAV against its limits.",
    "es": "Expected shortfall (99%, 1 day) as % of NAV against its limits.",
    "concentration": "Largest position % of NAV and Herfindahl index against their limits.",
    "liquidity": "Days to liquidate the book at 20% of average daily volume against its limit.",
    "regime": "The volatility regime: high-volatility regime and its probability.",
}
SEVERITY = {"warn": dg.AssetCheckSeverity.WARN, "error": dg.AssetCheckSeverity.ERROR}


def check_name(family: str) -> str:
    return f"{family}_limits"


@dg.asset(
    group_name="risk",
    compute_kind="yaml",
    check_specs=[
        dg.AssetCheckSpec(check_name(f), asset="risk_limits", blocking=False,
                          description=FAMILY_DESCRIPTIONS[f] + " Fails at a warn threshold (WARN) or a breach"
                          " (WARN or ERROR by the limit's severity).")
        for f in FAMILIES
    ],
)
def risk_limits(context: dg.AssetExecutionContext, portfolio_risk: dict, limits_source: RiskLimitsResource,
                alert_sink: AlertSinkResource, lineage: LineageResource):
    """The risk report against the limits file: figure, threshold, utilisation and status per limit; alert
    episodes that open, change, are due a reminder or clear go to the alert log (and the webhook, when one is
    configured); a limit still firing inside the re-notification interval is counted as suppressed."""
    limit_set = limits_source.load()
    results = evaluate_limits(portfolio_risk, limit_set)
    fired = alerts_for(results, portfolio_risk, run_id=context.run_id, alert_on=limit_set.alert_on)
    triage = alert_sink.triage(fired, results, portfolio_risk, context.run_id)
    alerts = triage.notify
    delivery = alert_sink.emit(alerts)
    if delivery is not None and not delivery.ok:
        context.log.warning(f"alert webhook delivery failed ({delivery.error}); alerts are in {alert_sink.jsonl_path}")
    rows = [r.to_dict() for r in results]
    limits_sha = sha256_file(Path(limits_source.limits_path))
    lineage.record(context.run_id, "risk_limits", ["portfolio_risk"], {
        "limits_file": limits_source.limits_path, "sha256": limits_sha, "asof": portfolio_risk.get("asof"),
        "statuses": {r.limit: r.status for r in results}, "alerts": len(alerts)})
    frame = pd.DataFrame(rows)[["limit", "family", "status", "figure", "threshold", "utilisation", "unit",
                                "limit_severity"]].astype({"figure": str, "threshold": str})
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "warn", "breach", "not_evaluated")}
    yield dg.Output(
        {"asof": portfolio_risk.get("asof"), "portfolio": portfolio_risk.get("portfolio"),
         "limits_file": limits_source.limits_path, "results": rows, "alerts": [a.to_dict() for a in alerts],
         "alerts_suppressed": [a.to_dict() for a in triage.suppressed]},
        metadata={
            "asof": str(portfolio_risk.get("asof")),
            **counts,
            "alerts_written": len(alerts),
            "alert_events": ", ".join(f"{a.event} {a.limit}" for a in alerts) or "none",
            "alerts_suppressed": dg.MetadataValue.int(len(triage.suppressed)),
            "alert_log": dg.MetadataValue.path(alert_sink.jsonl_path),
            "webhook": _webhook_status(alert_sink, delivery),
            "limits_file": dg.MetadataValue.path(limits_source.limits_path),
            "limits": table(frame),
        },
    )
    for family in FAMILIES:
        outcome = family_outcome(family, results)
        yield dg.AssetCheckResult(
            check_name=check_name(family),
            asset_key="risk_limits",
            passed=outcome.passed,
            severity=SEVERITY[outcome.severity],
            description=outcome.summary,
            metadata={
                **{f"{r.limit}.figure": _meta(r.figure) for r in outcome.results},
                **{f"{r.limit}.threshold": _meta(r.threshold) for r in outcome.results},
                **{f"{r.limit}.status": r.status for r in outcome.results},
                "model_versions": dg.MetadataValue.json({r.limit: r.bound_by for r in outcome.results}),
            },
        )


def _webhook_status(sink: AlertSinkResource, delivery) -> str:
    if not sink.webhook_url:
        return "not configured"
    if delivery is None:
        return "nothing to send"
    return "delivered" if delivery.ok else f"FAILED: {delivery.error}"


def _meta(value):
    if value is None:
        return "not evaluated"
    if isinstance(value, float):
        return round(value, 6)
    return value if isinstance(value, (int, str)) else str(value)


ASSETS = [risk_limits]
