"""The risk engine's settings and constants, each defined once: confidences, windows, scenario counts, the
data-quality thresholds of an assessment and the methods' defaults. Every module of ``risk/`` may import it;
it imports none of them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from risk_platform.ewma import EWMA_LAMBDA

ALPHAS = (0.95, 0.99)  # the report's confidences: var_95, var_99, es_95 (cvar_95), es_99
HS_WINDOW = 500  # days of historical simulation
MC_SCENARIOS = 50_000  # vine-copula draws and non-model stress bootstrap draws
MIN_HISTORY_COVERAGE = 0.9  # share of a venue's sessions in the window below which a history is flagged short
STALE_AFTER_SESSIONS = 3  # venue sessions without a value after which a price is flagged stale
MAX_DATA_AGE_SESSIONS = 5  # venue sessions between a feed's last value and the evaluation date: older is stale
MAX_MODEL_AGE_DAYS = 90  # calendar days between a model's last training day and the as-of date: older is flagged
EVT_THRESHOLD = 0.90  # conditional EVT (backtests and the risk engine): the GPD threshold, this quantile of
#   the standardised losses
FHS_VOL_FLOOR = 0.2  # filtered HS: volatility floor as a share of the factor's root-mean-square return
STRESS_TAIL_SHARE = 0.01  # generated stress: the worst share of the scenarios kept
PARTICIPATION = 0.2  # share of a position's average daily volume traded per day when liquidating
COPULA_FAMILIES = ("gaussian", "clayton", "gumbel")  # pair-copula families of the vine (see copula.py)
COPULA_TRUNCATION = 3  # vine trees fitted (conditional independence beyond)
COPULA_STRUCTURED_ABOVE = 64  # above this many series the copula is factor-structured (a vine on K PCA factors)
COPULA_MAX_FACTORS = 12  # statistical factors of the structured copula: min(this, N // 4) unless set


@dataclass(frozen=True)
class RiskConfig:
    """Methodology settings; every figure in the report names the setting that produced it.

    ``mc_scenarios``: vine-copula draws and non-model stress bootstrap draws; ``fit_copula``: fit the vine
    copula when no fitted model or scenarios are passed (seconds: pass a fitted model intraday);
    ``copula_window``: recent days it is fitted on; ``copula_structured_above``: above this many series the copula
    is factor-structured (None: never), with ``copula_factors`` statistical factors (None: min(12, N // 4));
    ``stress_share``: tail share of generated stress;
    ``participation``: share of ADV traded per day when liquidating.

    Staleness against the clock: ``evaluation_date`` is the day the data's age is measured on (None: today,
    UTC; set it for a historical run: the as-of date is the date of the market data used, the evaluation
    date the day the report is read); a usable feed whose last value is more than ``max_data_age_sessions``
    venue sessions before it makes the report ``stale_against_clock`` (with the reason).

    ``max_model_age_days``: a model version whose training data end more calendar days than this before the
    as-of date is flagged (WARN) in the report's ``model_age_flags``.
    """

    hs_window: int = HS_WINDOW
    ewma_lambda: float = EWMA_LAMBDA
    mc_scenarios: int = MC_SCENARIOS
    fit_copula: bool = True
    copula_window: int = 500
    copula_families: tuple[str, ...] = COPULA_FAMILIES
    copula_trunc_lvl: int | None = COPULA_TRUNCATION
    copula_structured_above: int | None = COPULA_STRUCTURED_ABOVE
    copula_factors: int | None = None
    stress_share: float = STRESS_TAIL_SHARE
    participation: float = PARTICIPATION
    seed: int = 0
    threads: int = 2
    evaluation_date: pd.Timestamp | None = None
    max_data_age_sessions: int = MAX_DATA_AGE_SESSIONS
    max_model_age_days: int = MAX_MODEL_AGE_DAYS
