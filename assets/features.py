"""Features: returns by quote type and the point-in-time feature tables in the Parquet store."""

import dagster as dg
import pandas as pd

from assets.metadata import correlation_metadata, latest_gx_validation_id, manifest_table, table
from resources import FeatureStoreResource, LineageResource
from risk_platform.features.correlation import LATEST_TABLE, NEIGHBOUR_TABLE, correlation_tables
from risk_platform.features.engineering import series_features
from risk_platform.features.returns import compute_returns, wide_returns
from risk_platform.regime import RegimeRule

DAILY_TABLE = "daily_features"


@dg.asset(group_name="features", compute_kind="pandas")
def returns(market_panel: pd.DataFrame, instruments: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Daily returns: log for prices, index levels and FX; bp changes for yields; fallbacks recorded."""
    result = compute_returns(market_panel, instruments)
    fallbacks = result.fallbacks.assign(date=result.fallbacks["date"].dt.strftime("%Y-%m-%d"))
    return dg.Output(
        result.frame,
        metadata={
            "rows": len(result.frame),
            "methods": dg.MetadataValue.json(result.frame["method"].value_counts().to_dict()),
            "fallback_days": len(fallbacks),
            "fallbacks": table(fallbacks),
        },
    )


@dg.asset(group_name="features", compute_kind="parquet")
def daily_features(context: dg.AssetExecutionContext, returns: pd.DataFrame, market_panel: pd.DataFrame,
                   instruments: pd.DataFrame, feature_store: FeatureStoreResource,
                   lineage: LineageResource) -> dg.Output[dict]:
    """Per series and day: return, EWMA(0.94) and 21/63-day realized vol, drawdown, vol rank and regime."""
    rule = RegimeRule()
    frame = series_features(returns, market_panel, instruments, rule)
    store = feature_store.store()
    manifest = {**store.write(DAILY_TABLE, frame).to_dict(), "store_root": str(store.root),
                "gx_validation_id": latest_gx_validation_id(context)}
    lineage.record(context, "daily_features", ["returns", "market_panel", "instruments"],
                   partition_facts(manifest))
    latest = frame.sort_values("date").groupby("symbol").tail(1)[["symbol", "date", "ewma_vol", "rv_21", "regime"]]
    return dg.Output(
        manifest,
        metadata={
            "rows": manifest["rows"],
            "partitions": manifest_table(manifest),
            "regime_rule": f"EWMA-vol percentile rank (expanding, min {rule.min_history} days): "
            f"low < {rule.low_below}, high > {rule.high_above}",
            "latest": table(latest),
        },
    )


@dg.asset(group_name="features", compute_kind="parquet")
def correlation_features(context: dg.AssetExecutionContext, returns: pd.DataFrame,
                         feature_store: FeatureStoreResource, lineage: LineageResource) -> dg.Output[dict]:
    """63-day rolling pairwise correlations of returns (pairs on common dates, at least 42), kept as each series'
    top-k neighbours by |corr| per date and the full matrix of the last date."""
    tables = correlation_tables(wide_returns(returns))
    store = feature_store.store()
    manifests = {name: {**store.write(name, frame).to_dict(), "store_root": str(store.root)}
                 for name, frame in ((NEIGHBOUR_TABLE, tables.neighbours), (LATEST_TABLE, tables.latest))}
    lineage.record(context, "correlation_features", ["returns"],
                   {"tables": [partition_facts(m) for m in manifests.values()]})
    return dg.Output(manifests, metadata=correlation_metadata(tables, manifests[NEIGHBOUR_TABLE],
                                                              manifests[LATEST_TABLE]))


def partition_facts(manifest: dict) -> dict:
    """What lineage keeps of a feature table: where it is and each partition's content hash."""
    return {"table": manifest["table"], "store_root": manifest["store_root"],
            "partitions": [{"year": p["year"], "sha256": p["sha256"]} for p in manifest["partitions"]]}


ASSETS = [returns, daily_features, correlation_features]
