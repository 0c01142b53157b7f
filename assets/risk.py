"""Risk: the book under risk and its portfolio risk report."""

from pathlib import Path

import dagster as dg
import pandas as pd

from assets.metadata import table
from resources import FeatureStoreResource, LineageResource, MarketDataResource, MlflowResource, PortfolioResource
from risk_platform.data.loading import sha256_file
from risk_platform.families import FAMILIES
from risk_platform.models.inference import aliased_model_inputs
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.engine import compute_portfolio_risk

COVERAGE_CHECK = "all_positions_valued"


@dg.asset(group_name="risk", compute_kind="yaml")
def portfolio(context: dg.AssetExecutionContext, portfolio_source: PortfolioResource,
              market_data: MarketDataResource, lineage: LineageResource) -> dg.Output[dict]:
    """The positions file, validated against the instruments."""
    book = portfolio_source.load(market_data.instruments())
    lineage.record(context.run_id, "portfolio", [], {"positions_file": book.source,
                                                     "sha256": sha256_file(Path(book.source))})
    frame = book.positions
    return dg.Output(
        book.to_dict(),
        metadata={
            "source": book.source,
            "positions": len(frame),
            "nav": book.nav,
            "by_asset_class": dg.MetadataValue.json(frame.groupby("asset_class").size().to_dict()),
        },
    )


@dg.asset(
    group_name="risk",
    compute_kind="numpy",
    check_specs=[
        dg.AssetCheckSpec(
            COVERAGE_CHECK,
            asset="portfolio_risk",
            description="Every position was valued: none depends on a rejected feed or has a stale price.",
        )
    ],
)
def portfolio_risk(context: dg.AssetExecutionContext, portfolio: dict, market_panel: pd.DataFrame,
                   returns: pd.DataFrame, feed_quality: pd.DataFrame, daily_features: dict,
                   market_data: MarketDataResource, feature_store: FeatureStoreResource, mlflow: MlflowResource,
                   lineage: LineageResource):
    """Every VaR/ES method side by side (historical, EWMA and model parametric, GAN/VAE/vine-copula Monte
    Carlo, FHS, regime blend), computed with each aliased model set (stable, current, experimental); the
    headline figures, which limits use, are the most conservative. Stress tests, liquidity, concentration.
    Losses positive, USD, 1 day."""
    rejected = feed_quality.loc[~feed_quality["accepted"], "symbol"]
    unavailable = {s: "feed rejected by the missing-data gate" for s in rejected}
    daily = feature_store.store().read(daily_features["table"], verify=True)
    registry = mlflow.registry()
    models = aliased_model_inputs(registry, daily, tuple(FAMILIES), override_log=mlflow.override_log())
    report = compute_portfolio_risk(Portfolio.from_dict(portfolio), market_panel, returns,
                                    market_data.instruments(), unavailable=unavailable, model_inputs=models.inputs)
    lineage.record(context.run_id, "portfolio_risk", ["portfolio", "market_panel", "returns", "feed_quality",
                                                      "daily_features"], {
        "asof": report.asof, "var_95": report.var_95, "var_99": report.var_99, "cvar_95": report.cvar_95,
        "es_99": report.es_99, "bound_by": report.bound_by, "flagged": report.flagged_positions,
        "model_versions": report.model_versions, "aliases": models.aliases, "guardrails": models.guardrails})
    figures = pd.DataFrame([{"method": name, **{k: round(m[k]) for k in ("var_95", "var_99", "es_95", "es_99")
                                                 if isinstance(m.get(k), int | float) and m[k] == m[k]}}
                            for name, m in report.methods.items() if isinstance(m, dict)])
    positions = pd.DataFrame(report.positions)
    yield dg.Output(
        {**report.to_dict(), "model_notes": models.notes, "guardrails": models.guardrails},
        metadata={
            "asof": report.asof,
            "var_95": round(report.var_95),
            "var_99": round(report.var_99),
            "cvar_95": round(report.cvar_95),
            "es_99": round(report.es_99),
            "var_99_pct_nav": round(100 * report.var_99 / report.nav, 3),
            "bound_by": dg.MetadataValue.json(report.bound_by),
            "model_versions": ", ".join(report.model_versions) or "none (no aliased model)",
            "aliases": dg.MetadataValue.json(models.aliases),
            "portfolio_volatility": round(report.portfolio_volatility),
            "current_regime": report.current_regime,
            "days_to_liquidate_portfolio": round(report.days_to_liquidate_portfolio, 2),
            "figures": table(figures),
            "positions": table(positions.round(2)),
            "stress_tests": table(pd.DataFrame([{"scenario": k, **{f: v for f, v in r.items()
                                                                   if isinstance(v, int | float | str)}}
                                                for k, r in report.stress_test_results.items()])),
            "flagged_positions": table(pd.DataFrame(report.flagged_positions or [{"symbol": "none"}])),
            "model_notes": "; ".join(models.notes) or "none",
            "summary": dg.MetadataValue.md(f"```\n{report.summary()}\n```"),
        },
    )
    yield dg.AssetCheckResult(
        check_name=COVERAGE_CHECK,
        passed=not report.flagged_positions,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "flagged": ", ".join(f"{f['symbol']} ({f['reason']})" for f in report.flagged_positions) or "none",
            "coverage_pct_gross": report.coverage_pct_gross,
        },
    )


ASSETS = [portfolio, portfolio_risk]
