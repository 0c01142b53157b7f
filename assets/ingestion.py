"""Ingestion: the delivered prices as they came, and the market panel behind the missing-data gate."""

from pathlib import Path

import dagster as dg
import pandas as pd

from assets.metadata import table
from resources import LineageResource, MarketDataResource
from risk_platform.data.quality import (
    accepted_panel,
    apply_gate,
    completeness_table,
    quarantine_rejected,
    validate_with_gx,
)

GATE_CHECK = "missing_data_gate"


@dg.asset(group_name="ingestion", compute_kind="pandas")
def raw_prices(context: dg.AssetExecutionContext, market_data: MarketDataResource,
               lineage: LineageResource) -> dg.Output[pd.DataFrame]:
    """Prices as delivered (long format, parsed and validated), with the sha256 of every source file."""
    raw = market_data.load(market_data.instruments())
    frame = raw.frame
    files = pd.DataFrame([{"file": f.path, "sha256": f.sha256, "rows": f.rows} for f in raw.files])
    lineage.record(context.run_id, "raw_prices", [], {"files": files.to_dict(orient="records"),
                                                      "instruments": market_data.instruments_path})
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "symbols": len(raw.symbols),
            "first_date": f"{frame['date'].min():%Y-%m-%d}",
            "last_date": f"{frame['date'].max():%Y-%m-%d}",
            "files": table(files),
            "sha256": raw.files[0].sha256 if len(raw.files) == 1 else ",".join(f.sha256 for f in raw.files),
            "missing_token_rows": raw.missing_token_rows,
            "exact_duplicates_dropped": raw.exact_duplicates_dropped,
        },
    )


@dg.multi_asset(
    group_name="ingestion",
    outs={
        "feed_quality": dg.AssetOut(description="Per feed: venue sessions, missing share, accepted or rejected."),
        "market_panel": dg.AssetOut(
            description="Accepted feeds on their own venue's sessions (date, symbol, value)."
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(
            GATE_CHECK,
            asset="market_panel",
            blocking=True,
            description=(
                "Great Expectations suite expectations/market_panel_completeness.json: a feed with more than"
                " 5% of its venue's sessions missing is rejected and quarantined. Fails with WARN when some"
                " feeds are rejected (the others proceed), with ERROR (blocking downstream) when none passes"
                " or the suite's other expectations fail."
            ),
        )
    ],
    compute_kind="great_expectations",
)
def market_panel(context: dg.AssetExecutionContext, raw_prices: pd.DataFrame, market_data: MarketDataResource,
                 lineage: LineageResource):
    """Apply the missing-data gate to the delivery and keep the accepted feeds."""
    instruments = market_data.instruments()
    suite = market_data.completeness_suite()
    start, end = market_data.window()
    completeness = completeness_table(raw_prices, instruments, start, end)
    decision = apply_gate(completeness, suite, delivered=sorted(raw_prices["symbol"].unique()))
    decision = validate_with_gx(decision, suite)
    result_path = market_data.record_validation(decision.gx_validation_id, decision.gx_result)
    quarantined = quarantine_rejected(decision, raw_prices, Path(market_data.quarantine_dir))
    panel = accepted_panel(raw_prices, instruments, decision)
    gate_table = decision.table.sort_values(["accepted", "missing_share"], ascending=[True, False])
    lineage.record(context.run_id, "market_panel", ["raw_prices"], {
        "gx_validation_id": decision.gx_validation_id, "gx_result": str(result_path),
        "suite": "expectations/market_panel_completeness.json", "accepted": list(decision.accepted),
        "rejected": list(decision.rejected), "quarantined": [str(p.parent) for p in quarantined]})
    common = {"gx_validation_id": decision.gx_validation_id, "gx_result": dg.MetadataValue.path(str(result_path))}
    yield dg.Output(decision.table, output_name="feed_quality", metadata={"feeds": table(gate_table), **common})
    yield dg.Output(
        panel,
        output_name="market_panel",
        metadata={
            "rows": len(panel),
            "accepted_feeds": len(decision.accepted),
            "rejected_feeds": ", ".join(decision.rejected) or "none",
            "not_evaluated_feeds": ", ".join(decision.not_evaluated) or "none",
            **common,
        },
    )
    others_ok = all(  # table-level expectations (columns, unique symbols), not the per-feed bounds
        r["success"] for r in decision.gx_result["results"]
        if r["expectation_config"]["type"] != "expect_column_values_to_be_between"
    )
    severity = dg.AssetCheckSeverity.WARN if decision.accepted and others_ok else dg.AssetCheckSeverity.ERROR
    yield dg.AssetCheckResult(
        check_name=GATE_CHECK,
        asset_key="market_panel",
        passed=decision.passed and others_ok,
        severity=severity,
        description=decision.summary(),
        metadata={
            "threshold": decision.threshold,
            "rejected": ", ".join(decision.rejected) or "none",
            "rejections": dg.MetadataValue.md("\n".join(f"- {line}" for line in decision.rejection_lines()) or "none"),
            "quarantined": ", ".join(str(p.parent) for p in quarantined) or "none",
            "feeds": table(gate_table),
            **common,
        },
    )


ASSETS = [raw_prices, market_panel]
