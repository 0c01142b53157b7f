"""The backtest methods, defined once: each one's name, family and description. The single-series and the book
backtests (:mod:`risk_platform.validation.var_forecasts`, :mod:`risk_platform.validation.book_backtest`), the
crisis validation's baselines and ``risk-platform backtest --list-methods`` read this table (no heavy imports:
the command line builds its choices from it)."""

from __future__ import annotations

from dataclasses import dataclass

REFIT_EVERY = 250  # GARCH-t: re-estimated every this many days on all data before, filtered in between
EVT_REFIT_EVERY = 21  # conditional EVT: the GPD tail re-fitted every this many days on the residuals before
EVT_HISTORY: int | None = None  # conditional EVT: the last this many standardised losses (None: all before)


@dataclass(frozen=True)
class BacktestMethod:
    """A backtest method: its name, its family (``baseline``: the standard benchmarks a reviewer compares
    against; ``model``: every method the platform adds), whether it forecasts with a learned (LSTM) model, and
    what it forecasts with."""

    name: str
    family: str
    learned: bool
    description: str


BACKTEST_METHODS = (
    BacktestMethod("hs", "baseline", False, "historical simulation over the last --window days"),
    BacktestMethod("ewma", "baseline", False, "normal with the RiskMetrics EWMA(0.94) variance"),
    BacktestMethod("garch", "baseline", False,
                   f"GARCH(1,1) with Student-t errors, refitted every {REFIT_EVERY} days"),
    BacktestMethod("fhs", "baseline", False, "EWMA-filtered historical simulation over the last --window days"),
    BacktestMethod("lstm", "model", True, "normal with the registered LSTM's next-day variance (out of sample only)"),
    BacktestMethod("evt_ewma", "model", False, f"conditional EVT: a GPD tail (refitted every {EVT_REFIT_EVERY}"
                   " days) of the losses standardised by the EWMA(0.94) volatility"),
    BacktestMethod("evt_garch", "model", False, "conditional EVT: a GPD tail of the losses standardised by the"
                   f" GARCH(1,1)-t volatility (refitted every {REFIT_EVERY} days)"),
    BacktestMethod("evt_lstm", "model", True, "conditional EVT: a GPD tail of the losses standardised by the"
                   " registered LSTM's volatility (out of sample only)"),
)
METHODS = tuple(m.name for m in BACKTEST_METHODS)
BASELINES = tuple(m.name for m in BACKTEST_METHODS if m.family == "baseline")
LSTM_METHODS = tuple(m.name for m in BACKTEST_METHODS if m.learned)  # they need the registered LSTM
