"""Portfolio risk on the gated market inputs (:mod:`risk_platform.workflows.market_inputs`): the command line's report
(non-model methods; no model code is imported here, so the command line starts fast) and the base of the
pipeline's (:mod:`risk_platform.workflows.modelled_risk`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.engine import compute_portfolio_risk
from risk_platform.risk.report import ModelInputs, PortfolioRisk
from risk_platform.workflows.market_inputs import MarketInputs


def assess(portfolio: Portfolio, market: MarketInputs, config: RiskConfig | None = None, *,
           asof: pd.Timestamp | None = None, model_inputs: Sequence[ModelInputs] = (),
           stress: bool = True) -> PortfolioRisk:
    """The risk report of ``portfolio`` on ``market`` (positions on unavailable feeds excluded and flagged; the
    market's flagged points traced to the figures they affect in ``data_flags``)."""
    return compute_portfolio_risk(portfolio, market.panel, market.returns, market.instruments, asof,
                                  market.unavailable, config or RiskConfig(), model_inputs=list(model_inputs),
                                  stress=stress, flag_points=market.flag_points)
