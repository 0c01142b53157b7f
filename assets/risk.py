"""Risk: the book under risk and its portfolio risk report."""

from pathlib import Path

import dagster as dg
import pandas as pd

from assets.metadata import (
    aliases_audited_check,
    coverage_check,
    data_fresh_check,
    data_plausible_check,
    models_check,
    portfolio_metadata,
    portfolio_risk_metadata,
    risk_history_metadata,
)
from assets.models import MODEL_ASSETS
from resources import FeatureStoreResource, LineageResource, MlflowResource, PortfolioResource, RiskLimitsResource
from risk_platform.data.loading import sha256_file
from risk_platform.errors import InputError
from risk_platform.portfolio.positions import Portfolio
from risk_platform.reporting.risk_views import lineage_markdown
from risk_platform.risk.config import MAX_DATA_AGE_SESSIONS, MAX_MODEL_AGE_DAYS, RiskConfig
from risk_platform.workflows.market_inputs import stored_market_inputs
from risk_platform.workflows.modelled_risk import (
    ModelledRisk,
    assess_with_models,
    headline_limit_utilisation,
    recent_var_backtest,
)

COVERAGE_CHECK = "all_positions_valued"
MODELS_CHECK = "model_registry_read"
FRESHNESS_CHECK = "data_fresh"
ALIASES_CHECK = "model_aliases_audited"
PLAUSIBLE_CHECK = "market_data_plausible"


RISK_ASOF = dg.DynamicPartitionsDefinition(name="risk_asof")  # one partition per as-of date risk was computed for
risk_history = dg.AssetSpec(
    "risk_history", group_name="risk_history", deps=["portfolio_risk"], partitions_def=RISK_ASOF,
    description="The headline risk figures keyed by as-of date (the market panel's last business day): each"
    " portfolio_risk run records its partition (VaR/ES in USD, VaR 99% in % of NAV and of its limit, the binding"
    " method), so the Plots tab shows one point per business day, not one per run. Recorded, not materialized"
    " on its own.")


def record_asof(context: dg.AssetExecutionContext, risk: ModelledRisk, utilisation: float | None) -> None:
    """Record the run's headline figures as the ``risk_history`` partition of its as-of date (added if new); a
    later run for the same date supersedes it."""
    report = risk.report
    context.instance.add_dynamic_partitions(RISK_ASOF.name, [report.asof])
    context.log_event(dg.AssetMaterialization("risk_history", partition=report.asof,
                                              metadata=risk_history_metadata(report, utilisation)))


class PortfolioRiskConfig(dg.Config):
    """Staleness against the clock (run config ``ops: {portfolio_risk: {config: ...}}``).

    ``evaluation_date`` (YYYY-MM-DD): the day the data's age is measured on; unset: today (UTC). Set it for
    a historical run. ``max_data_age_sessions``: a feed whose last value is more venue sessions old than this
    makes the report ``stale_against_clock`` and fails the ``data_fresh`` check with WARN (the run goes on);
    ``error_data_age_sessions``: when set, data older than this fail the check with ERROR (production).
    ``max_model_age_days``: a model version used whose training data end more calendar days than this before
    the as-of date is flagged WARN in the report (``model_age_flags``) and in ``risk_limits``.

    The choice for the embedded defaults (``make demo``, tests): the clock is today there too, never the
    data's own last date, so the bundled data (ending 2024-12-31) are reported as old, honestly: the demo
    prints ``check portfolio_risk:data_fresh FAILED (WARN)`` with the reason, and the run still succeeds.
    """

    evaluation_date: str | None = None
    max_data_age_sessions: int = MAX_DATA_AGE_SESSIONS
    error_data_age_sessions: int | None = None
    max_model_age_days: int = MAX_MODEL_AGE_DAYS

    def risk_config(self) -> RiskConfig:
        """The engine's settings: the evaluation date (InputError when not YYYY-MM-DD) and the age limit."""
        if self.max_data_age_sessions < 0 or (self.error_data_age_sessions or 0) < 0:
            raise InputError("portfolio_risk config: the data age limits must be zero or positive sessions")
        if self.max_model_age_days < 0:
            raise InputError("portfolio_risk config: max_model_age_days must be zero or positive days")
        try:
            day = pd.to_datetime(self.evaluation_date, format="%Y-%m-%d") if self.evaluation_date else None
        except ValueError:
            raise InputError(f"portfolio_risk config: evaluation_date '{self.evaluation_date}' is not a YYYY-MM-DD"
                             " date") from None
        return RiskConfig(evaluation_date=day, max_data_age_sessions=self.max_data_age_sessions,
                          max_model_age_days=self.max_model_age_days)


@dg.asset(group_name="risk", compute_kind="yaml")
def portfolio(context: dg.AssetExecutionContext, instruments: pd.DataFrame, portfolio_source: PortfolioResource,
              lineage: LineageResource) -> dg.Output[dict]:
    """The positions file, validated against the instruments."""
    book = portfolio_source.load(instruments)
    lineage.record(context, "portfolio", ["instruments"], {"positions_file": book.source,
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
            FRESHNESS_CHECK,
            asset="portfolio_risk",
            description="No feed is older than max_data_age_sessions venue sessions on the evaluation date (today"
            " unless configured): WARN, or ERROR beyond error_data_age_sessions when set.",
        ),
        dg.AssetCheckSpec(
            PLAUSIBLE_CHECK,
            asset="portfolio_risk",
            description="No market data point was removed as suspect or kept unconfirmed by the plausibility gate:"
            " WARN naming each point and the positions, methods and figures it affects.",
        ),
        dg.AssetCheckSpec(
            MODELS_CHECK,
            asset="portfolio_risk",
            description="The model registry was read and holds every version the alias audit log moved an alias"
            " to (otherwise the figures come from the non-model methods only).",
        ),
        dg.AssetCheckSpec(
            ALIASES_CHECK,
            asset="portfolio_risk",
            description="Every model alias is where the alias audit log puts it: an alias moved outside the"
            " audited path (MLflow UI or API) is refused (the audited version is used, or none), recorded in the"
            " audit log, alerted by risk_limits, and fails this check (ERROR).",
        ),
    ],
)
def portfolio_risk(context: dg.AssetExecutionContext, config: PortfolioRiskConfig, portfolio: dict,
                   instruments: pd.DataFrame,
                   market_panel: pd.DataFrame, returns: pd.DataFrame, feed_quality: pd.DataFrame,
                   daily_features: dict, feature_store: FeatureStoreResource, mlflow: MlflowResource,
                   lineage: LineageResource, limits_source: RiskLimitsResource):
    """Every VaR/ES method side by side (historical, EWMA and model parametric, GAN/VAE/vine-copula Monte
    Carlo, FHS, regime blend), computed with each aliased model set (stable, current, experimental) as pinned
    for the run; the headline figures, which limits use, are the most conservative. Stress tests, liquidity,
    concentration. Losses positive, USD, 1 day."""
    market = stored_market_inputs(instruments, market_panel, returns, feed_quality)
    daily = feature_store.store().read(daily_features["table"], verify=True)
    book = Portfolio.from_dict(portfolio)
    risk = assess_with_models(book, market, mlflow.pinned_registry(context.run_id), daily,
                              override_log=mlflow.override_log(), config=config.risk_config(),
                              actor=f"dagster run {context.run_id}")
    facts = lineage.record(context, "portfolio_risk", ["portfolio", "instruments", "market_panel", "returns",
                                                       "feed_quality", "daily_features"], risk.lineage_facts())
    utilisation = headline_limit_utilisation(risk.report.to_dict(), limits_source.limits_path)
    record_asof(context, risk, utilisation)
    yield dg.Output(risk.to_dict(), metadata=portfolio_risk_metadata(
        risk, recent_var_backtest(book, market), utilisation,
        lineage_markdown(context.run_id, facts["upstream_runs"], risk.model_lineage)))
    yield coverage_check(risk.report, COVERAGE_CHECK)
    yield data_fresh_check(risk.report, FRESHNESS_CHECK, config.error_data_age_sessions)
    yield data_plausible_check(risk.report, PLAUSIBLE_CHECK)
    yield models_check(risk, MODELS_CHECK)
    yield aliases_audited_check(risk, ALIASES_CHECK)


ASSETS = [portfolio, portfolio_risk, risk_history]
