"""``python -m bench.tails``: calibrated tails of single series, 99% VaR, walk-forward (figures, not pass/fail).

Every bundled series (28) through the missing-data gate, every method that needs no registered model (``hs``,
``ewma``, ``garch``, ``fhs``, ``evt_ewma``, ``evt_garch``; :func:`~risk_platform.validation.var_forecasts.
rolling_var`, window 500, each forecast from data before its day), scored on the days every method forecasts,
per period: ``2005-2024`` (the target), ``2005-2014`` (the period on which the EVT threshold was chosen, see
``--tune``) and ``2015-2024`` (held out of that choice). Per method and period:

* ``pass``: series passing Kupiec (coverage) AND Christoffersen independence, both p > 0.05; ``pass_cc``: series
  passing Christoffersen's conditional coverage (p > 0.05) instead;
* ``tick_ratio_to_fhs``: pooled tick loss over pooled ``fhs`` tick loss on the same days, each series' losses and
  VaR divided by that series' loss standard deviation in the period (unit-free: bp and returns pool);
* ``exceptions`` and ``expected`` summed over series; ``red``: series in the Basel red zone; ``failing``: the
  series that do not ``pass``, with their exceptions and p-values (JSON only).

No method here is trained across series (each fits the scored series' own past), so the leave-series-out
figures are these. ``--tune`` compares EVT tail settings (threshold quantile, residual history) for
``evt_ewma`` on 2005-2014 only and prints them; ``--quick`` runs four series (a smoke test). Prints a table,
then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from risk_platform import paths
from risk_platform.data.loading import load_instruments, load_prices
from risk_platform.data.quality import load_suite
from risk_platform.validation.backtest import backtest
from risk_platform.validation.var_forecasts import EvtTail, VarForecast, rolling_var
from risk_platform.workflows.market_inputs import gated_market_inputs

SUITE = Path(__file__).resolve().parents[1] / "expectations" / "market_panel_completeness.json"
METHODS = ("hs", "ewma", "garch", "fhs", "evt_ewma", "evt_garch")
PERIODS = {"2005-2024": ("2005-01-01", "2024-12-31"), "2005-2014": ("2005-01-01", "2014-12-31"),
           "2015-2024": ("2015-01-01", "2024-12-31")}
QUICK_SERIES = ("SPX", "UST10Y", "EURUSD", "WTI")
ALPHA, WINDOW, P_PASS = 0.99, 500, 0.05
DEFAULT_TAIL = EvtTail()
TUNE_CANDIDATES = tuple(EvtTail(q, h) for q in (0.90, 0.95) for h in (None, 1000, 500))


def bundled_series() -> tuple[dict[str, pd.Series], dict[str, str]]:
    """Each bundled series' returns on its own sessions (gated) and its quote type."""
    instruments = load_instruments(paths.BUNDLED_INSTRUMENTS)
    inputs = gated_market_inputs(load_prices(paths.BUNDLED_PRICES, instruments).frame, instruments, load_suite(SUITE))
    quote = inputs.instruments.set_index("symbol")["quote_type"].to_dict()
    series = {str(s): rows.set_index("date")["ret"].sort_index().rename(str(s))
              for s, rows in inputs.returns.groupby("symbol")}
    return series, quote


def common_days(forecasts: dict[str, VarForecast], start: str, end: str) -> dict[str, VarForecast]:
    """The forecasts restricted to the days within ``start..end`` that every method forecasts."""
    days = pd.DatetimeIndex(sorted(set.intersection(*(set(f.dates) for f in forecasts.values()))))
    days = days[(days >= start) & (days <= end)]
    out = {}
    for name, f in forecasts.items():
        keep = f.dates.isin(days)
        out[name] = VarForecast(name, f.alpha, f.dates[keep], f.losses[keep], f.var[keep], f.es[keep])
    return out


def score(forecasts: dict[str, dict[str, VarForecast]], start: str, end: str) -> dict[str, dict]:
    """Per method: series passing, exceptions, red zones, the pooled unit-free tick loss ratio to fhs and the
    series that fail (why)."""
    rows = {m: {"series": 0, "pass": 0, "pass_cc": 0, "exceptions": 0, "expected": 0.0, "red": 0, "tick": 0.0,
                "failing": {}} for m in next(iter(forecasts.values()))}
    for symbol, by_method in forecasts.items():
        same = common_days(by_method, start, end)
        if len(next(iter(same.values())).dates) < 250:
            continue
        scale = float(np.std(same["fhs"].losses)) or 1.0
        for name, f in same.items():
            result = backtest(f.losses, f.var, ALPHA)
            row = rows[name]
            row["series"] += 1
            row["pass"] += int(result.kupiec_p > P_PASS and result.christoffersen_p > P_PASS)
            if not (result.kupiec_p > P_PASS and result.christoffersen_p > P_PASS):
                row["failing"][symbol] = (f"{result.exceptions} exceptions ({result.expected_exceptions:.0f} expected),"
                                          f" Kupiec p {result.kupiec_p:.3f}, independence p"
                                          f" {result.christoffersen_p:.3f}")
            row["pass_cc"] += int(result.conditional_coverage_p > P_PASS)
            row["exceptions"] += result.exceptions
            row["expected"] += result.expected_exceptions
            row["red"] += int(result.zone == "red")
            row["tick"] += result.tick_loss * result.n / scale
    fhs_tick = rows["fhs"]["tick"]
    for row in rows.values():
        row["tick_ratio_to_fhs"] = round(row.pop("tick") / fhs_tick, 4)
        row["expected"] = round(row["expected"], 1)
    return rows


def run(series: dict[str, pd.Series], quote: dict[str, str], methods: tuple[str, ...] = METHODS,
        tail: EvtTail = DEFAULT_TAIL) -> tuple[dict[str, dict[str, VarForecast]], dict[str, float]]:
    """Forecasts per series and method, and the seconds each method took in all."""
    forecasts: dict[str, dict[str, VarForecast]] = {}
    seconds = dict.fromkeys(methods, 0.0)
    for symbol, returns in series.items():
        forecasts[symbol] = {}
        for method in methods:
            started = time.perf_counter()
            forecasts[symbol][method] = rolling_var(returns, quote[symbol], method, ALPHA, WINDOW, tail=tail)
            seconds[method] += time.perf_counter() - started
        print(f"{symbol}: done", file=sys.stderr, flush=True)
    return forecasts, {m: round(s, 1) for m, s in seconds.items()}


def tune(series: dict[str, pd.Series], quote: dict[str, str]) -> dict[str, dict]:
    """``evt_ewma`` (beside ``fhs`` for the ratio) per EVT tail candidate, on data through 2014 only."""
    start, end = PERIODS["2005-2014"]
    series = {s: r[r.index <= end] for s, r in series.items()}
    out = {}
    for tail in TUNE_CANDIDATES:
        forecasts, _ = run(series, quote, ("fhs", "evt_ewma"), tail)
        out[f"threshold {tail.threshold}, history {tail.history or 'all'}"] = \
            score(forecasts, start, end)["evt_ewma"]
    return out


def table(figures: dict[str, dict[str, dict]]) -> str:
    """The figures as text: a block per period, a row per method."""
    lines = []
    for period, rows in figures.items():
        lines.append(f"{period}  {'method':<10}{'series':>7}{'pass':>6}{'pass_cc':>8}{'exc':>7}{'expected':>10}"
                     f"{'red':>5}{'tick/fhs':>10}")
        for name, r in rows.items():
            lines.append(f"{'':<11}{name:<10}{r['series']:>7}{r['pass']:>6}{r['pass_cc']:>8}{r['exceptions']:>7}"
                         f"{r['expected']:>10}{r['red']:>5}{r['tick_ratio_to_fhs']:>10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tails", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_SERIES)} (a smoke test)")
    parser.add_argument("--tune", action="store_true", help="compare EVT tail settings on 2005-2014 only")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    series, quote = bundled_series()
    if args.quick:
        series = {s: series[s] for s in QUICK_SERIES if s in series}
    if args.tune:
        tuned = tune(series, quote)
        print("\n".join(f"{k}: {v}" for k, v in tuned.items()))
        print(json.dumps({"tune_2005_2014": tuned, "seconds": round(time.perf_counter() - started, 1)}))
        return 0
    forecasts, seconds = run(series, quote)
    figures = {period: score(forecasts, *bounds) for period, bounds in PERIODS.items()}
    print(table(figures))
    print(json.dumps({"alpha": ALPHA, "window": WINDOW, "series": sorted(series), "figures": figures,
                      "method_seconds": seconds, "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
