"""Ingestion: the instruments table, the delivered prices as they came, and the market panel behind the
gate (plausibility and missing data)."""

from pathlib import Path

import dagster as dg
import pandas as pd

from assets.metadata import gate_check, gate_outputs_metadata, instruments_metadata, raw_prices_metadata
from resources import LineageResource, MarketDataResource
from risk_platform.data.loading import sha256_file

GATE_CHECK = "missing_data_gate"


@dg.asset(group_name="ingestion", compute_kind="pandas")
def instruments(context: dg.AssetExecutionContext, market_data: MarketDataResource,
                lineage: LineageResource) -> dg.Output[pd.DataFrame]:
    """The instruments table (asset class, quote type, currency, venue calendar per symbol), validated; read once
    per run, with the sha256 of its file."""
    frame = market_data.instruments()
    sha256 = sha256_file(Path(market_data.instruments_path))
    lineage.record(context, "instruments", [], {"file": market_data.instruments_path, "sha256": sha256})
    return dg.Output(frame, metadata=instruments_metadata(frame, market_data.instruments_path, sha256))


@dg.asset(group_name="ingestion", compute_kind="pandas")
def raw_prices(context: dg.AssetExecutionContext, instruments: pd.DataFrame, market_data: MarketDataResource,
               lineage: LineageResource) -> dg.Output[pd.DataFrame]:
    """Prices as delivered (long format, parsed and validated against the instruments), with the sha256 of
    every source file."""
    raw = market_data.load(instruments)
    lineage.record(context, "raw_prices", ["instruments"], {
        "files": [{"file": f.path, "sha256": f.sha256, "rows": f.rows} for f in raw.files]})
    return dg.Output(raw.frame, metadata=raw_prices_metadata(raw))


@dg.multi_asset(
    group_name="ingestion",
    outs={
        "feed_quality": dg.AssetOut(description="Per feed: venue sessions, missing share, suspect points removed,"
                                                " accepted or rejected."),
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
                " 5% of its venue's sessions missing is rejected and quarantined; and beside it"
                " expectations/market_panel_plausibility.json: suspect points (a one-day spike beyond 50 robust"
                " daily scales that reverses, a non-positive price, a denormal or |x| > 1e12, a date after today"
                " or beyond the venue calendar) are removed and listed in the quarantine's SUSPECT_POINTS.csv;"
                " more than 3 in a feed's last 63 sessions rejects the feed. Fails with WARN when some feeds are"
                " rejected or points removed (the others proceed), with ERROR (blocking downstream) when none"
                " passes or the suite's other expectations fail."
            ),
        )
    ],
    compute_kind="great_expectations",
)
def market_panel(context: dg.AssetExecutionContext, raw_prices: pd.DataFrame, instruments: pd.DataFrame,
                 market_data: MarketDataResource, lineage: LineageResource):
    """Apply the gate to the delivery (rejected files and suspect points quarantined) and keep the accepted feeds
    without their suspect points."""
    outcome = market_data.gate(raw_prices, instruments)
    panel = outcome.panel(raw_prices, instruments)
    lineage.record(context, "market_panel", ["raw_prices", "instruments"], outcome.lineage_facts())
    feeds, accepted = gate_outputs_metadata(outcome, panel, raw_prices, instruments)
    yield dg.Output(outcome.feed_table(), output_name="feed_quality", metadata=feeds)
    yield dg.Output(panel, output_name="market_panel", metadata=accepted)
    yield gate_check(outcome, GATE_CHECK, "market_panel")


ASSETS = [instruments, raw_prices, market_panel]
