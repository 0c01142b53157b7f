"""The backtest methods, defined once: each one's name, family and description. The single-series and the book
backtests (:mod:`risk_platform.validation.var_forecasts`, :mod:`risk_platform.validation.book_backtest`), the
crisis validation's baselines and ``risk-platform backtest --list-methods`` read this table (no heavy imports:
the command line builds its choices from it)."""

from __future__ import annotations

from dataclasses import dataclass

REFIT_EVERY = 250  # GARCH-t: re-estimated every this many days on all data before, filtered in between


@dataclass(frozen=True)
class BacktestMethod:
    """A backtest method: its name, its family (``baseline``: a statistical recipe fitted on the backtested
    series itself; ``model``: a registered model's forecasts) and what it forecasts with."""

    name: str
    family: str
    description: str


BACKTEST_METHODS = (
    BacktestMethod("hs", "baseline", "historical simulation over the last --window days"),
    BacktestMethod("ewma", "baseline", "normal with the RiskMetrics EWMA(0.94) variance"),
    BacktestMethod("garch", "baseline", f"GARCH(1,1) with Student-t errors, refitted every {REFIT_EVERY} days"),
    BacktestMethod("fhs", "baseline", "EWMA-filtered historical simulation over the last --window days"),
    BacktestMethod("lstm", "model", "normal with the registered LSTM's next-day variance (out of sample only)"),
)
METHODS = tuple(m.name for m in BACKTEST_METHODS)
BASELINES = tuple(m.name for m in BACKTEST_METHODS if m.family == "baseline")
