"""Risk: the book under risk and its portfolio risk report."""

from pathlib import Path

import dagster as dg
import pandas as pd

from assets.metadata import table
from resources import LineageResource, MarketDataResource, PortfolioResource
from risk_platform.data.loading import sha256_file
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.portfolio_risk import compute_portfolio_risk

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
                   returns: pd.DataFrame, feed_quality: pd.DataFrame, market_data: MarketDataResource,
                   lineage: LineageResource):
    """1-day VaR/ES at 95% and 99%: historical simulation (500 days) and EWMA-parametric, with Euler
    contributions per position. Losses positive, USD."""
    rejected = feed_quality.loc[~feed_quality["accepted"], "symbol"]
    unavailable = {s: "feed rejected by the missing-data gate" for s in rejected}
    report = compute_portfolio_risk(Portfolio.from_dict(portfolio), market_panel, returns,
                                    market_data.instruments(), unavailable=unavailable)
    lineage.record(context.run_id, "portfolio_risk", ["portfolio", "market_panel", "returns", "feed_quality"], {
        "asof": report.asof, "var_95": report.var_95, "var_99": report.var_99, "cvar_95": report.cvar_95,
        "es_99": report.es_99, "bound_by": report.bound_by, "flagged": report.flagged_positions})
    positions = pd.DataFrame(report.positions).drop(columns=["kind"]).round(
        {"value_usd": 0, "weight_pct_nav": 2, "hs_es_99_contribution": 0, "param_var_99_contribution": 0,
         "vol_contribution": 0}
    )
    hs, pm = report.methods["historical"], report.methods["parametric_ewma"]
    figures = pd.DataFrame(
        [
            {"method": f"historical ({hs['n_scenarios']}d to {hs['window_end']})", **_tails(hs)},
            {"method": f"parametric EWMA (lambda {pm['lambda']})", **_tails(pm)},
        ]
    )
    yield dg.Output(
        report.to_dict(),
        metadata={
            "asof": report.asof,
            "var_95": round(report.var_95),
            "var_99": round(report.var_99),
            "cvar_95": round(report.cvar_95),
            "es_99": round(report.es_99),
            "var_99_pct_nav": round(100 * report.var_99 / report.nav, 3),
            "portfolio_volatility": round(report.portfolio_volatility),
            "figures": table(figures),
            "positions": table(positions),
            "flagged_positions": table(pd.DataFrame(report.flagged_positions or [{"symbol": "none"}])),
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


def _tails(method: dict) -> dict:
    return {k: round(method[k]) for k in ("var_95", "var_99", "es_95", "es_99")}


ASSETS = [portfolio, portfolio_risk]
