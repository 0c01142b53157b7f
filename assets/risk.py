"""Risk: the book under risk and its portfolio risk report."""

from pathlib import Path

import dagster as dg
import pandas as pd

from assets.metadata import coverage_check, models_check, portfolio_metadata, portfolio_risk_metadata
from assets.models import MODEL_ASSETS
from resources import FeatureStoreResource, LineageResource, MlflowResource, PortfolioResource
from risk_platform.data.loading import sha256_file
from risk_platform.portfolio.positions import Portfolio
from risk_platform.workflows.market_inputs import stored_market_inputs
from risk_platform.workflows.modelled_risk import assess_with_models

COVERAGE_CHECK = "all_positions_valued"
MODELS_CHECK = "model_registry_read"


@dg.asset(group_name="risk", compute_kind="yaml")
def portfolio(context: dg.AssetExecutionContext, instruments: pd.DataFrame, portfolio_source: PortfolioResource,
              lineage: LineageResource) -> dg.Output[dict]:
    """The positions file, validated against the instruments."""
    book = portfolio_source.load(instruments)
    lineage.record(context.run_id, "portfolio", ["instruments"], {"positions_file": book.source,
                                                                  "sha256": sha256_file(Path(book.source))})
    return dg.Output(book.to_dict(), metadata=portfolio_metadata(book))


@dg.asset(
    group_name="risk",
    compute_kind="numpy",
    deps=MODEL_ASSETS,  # runs after the trainings in risk_pipeline; reads the run's pinned registry, not them
    check_specs=[
        dg.AssetCheckSpec(
            COVERAGE_CHECK,
            asset="portfolio_risk",
            description="Every position was valued: none depends on a rejected feed or has a stale price.",
        ),
        dg.AssetCheckSpec(
            MODELS_CHECK,
            asset="portfolio_risk",
            description="The model registry was read and holds every version the alias audit log moved an alias"
            " to (otherwise the figures come from the non-model methods only).",
        ),
    ],
)
def portfolio_risk(context: dg.AssetExecutionContext, portfolio: dict, instruments: pd.DataFrame,
                   market_panel: pd.DataFrame, returns: pd.DataFrame, feed_quality: pd.DataFrame,
                   daily_features: dict, feature_store: FeatureStoreResource, mlflow: MlflowResource,
                   lineage: LineageResource):
    """Every VaR/ES method side by side (historical, EWMA and model parametric, GAN/VAE/vine-copula Monte
    Carlo, FHS, regime blend), computed with each aliased model set (stable, current, experimental) as pinned
    for the run; the headline figures, which limits use, are the most conservative. Stress tests, liquidity,
    concentration. Losses positive, USD, 1 day."""
    market = stored_market_inputs(instruments, market_panel, returns, feed_quality)
    daily = feature_store.store().read(daily_features["table"], verify=True)
    risk = assess_with_models(Portfolio.from_dict(portfolio), market, mlflow.pinned_registry(context.run_id), daily,
                              override_log=mlflow.override_log())
    lineage.record(context.run_id, "portfolio_risk", ["portfolio", "instruments", "market_panel", "returns",
                                                      "feed_quality", "daily_features"], risk.lineage_facts())
    yield dg.Output(risk.to_dict(), metadata=portfolio_risk_metadata(risk))
    yield coverage_check(risk.report, COVERAGE_CHECK)
    yield models_check(risk, MODELS_CHECK)


ASSETS = [portfolio, portfolio_risk]
