"""Risk limits on the portfolio risk report: one asset check per limit family, alerts for fired limits."""

import dagster as dg

from assets.metadata import limit_family_check, limits_metadata
from resources import AlertSinkResource, LineageResource, RiskLimitsResource
from risk_platform.alerts import check_limits
from risk_platform.risk.limits import FAMILIES

FAMILY_DESCRIPTIONS = {
    "var": "Value at Risk (95% / 99%, 1 day) as % of NAV against its limits.",
    "es": "Expected shortfall (99%, 1 day) as % of NAV against its limits.",
    "concentration": "Largest position % of NAV and Herfindahl index against their limits.",
    "liquidity": "Days to liquidate the book at 20% of average daily volume against its limit.",
    "regime": "The volatility regime: high-volatility regime and its probability.",
}


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
    sink, limits_file = alert_sink.sink(), limits_source.limits_path
    checked = check_limits(portfolio_risk, limits_source.load(), sink, run_id=context.run_id)
    if checked.delivery is not None and not checked.delivery.ok:
        context.log.warning(f"alert webhook delivery failed ({checked.delivery.error}); alerts are in"
                            f" {sink.jsonl_path}")
    lineage.record(context, "risk_limits", ["portfolio_risk"],
                   checked.lineage_facts(portfolio_risk, limits_file))
    yield dg.Output(checked.to_dict(portfolio_risk, limits_file),
                    metadata=limits_metadata(checked, portfolio_risk, sink, limits_file))
    for family in FAMILIES:
        yield limit_family_check(family, checked.results, check_name(family), "risk_limits")


ASSETS = [risk_limits]
