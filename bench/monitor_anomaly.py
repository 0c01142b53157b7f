"""``python -m bench.monitor_anomaly [--json]``: the live monitor's anomaly detector, tuned on 2004-2009 and reported
once on 2010-2019, on the sample book's daily risk metrics (figures, not pass/fail).

Data: :func:`~risk_platform.monitor.metric_history.book_metric_history` of the bundled sample book over the bundled
history (exposures fixed, HS VaR/ES 99 over 500 days, EWMA volatility and diversification ratio). The detector
(:class:`~risk_platform.monitor.anomaly.AnomalyDetector`) sees every day from the first, one update a day, with its
four metrics; an *alarm day* is a day with at least one anomaly.

* A day is *in a crisis window* when it lies in ``[start - 10 trading days, end]`` of a window of
  :data:`~risk_platform.crisis_windows.CRISIS_WINDOWS` (early warnings count as hits); an alarm day outside every
  window is a *false alarm*. False alarms per trading day = false-alarm days / trading days outside the windows in
  the period; per year = that x 252.
* Tuning (validation 2004-01-01..2009-12-31 only): the grid :data:`GRID` of ``k`` (band width, sd), ``lam`` (EW
  smoothing) and ``min_sigma`` (the floor of the band's sd of the log change); kept: settings with at most
  :data:`TARGET_FALSE_ALARMS_PER_DAY` (one per 20 trading days) false alarms per day; chosen: the one with the most
  alarm days per trading day inside the windows (sensitivity), ties to fewer false alarms, then the larger ``k``.
* Test (2010-01-01..2019-12-31, once, with the chosen settings): false alarms per day and per year, and per window
  inside the test period (euro 2011, China 2015, Volmageddon 2018) whether any alarm fell in it, with
  ``chance_hit``: the probability of a hit by alarms falling at random at the period's false-alarm rate
  (``1 - (1 - rate) ** days``), and the alarm days per trading day inside the windows against that rate.
* Lead on COVID 2020 and the 2022 rates shock: trading days from the first alarm within ``[start - 20 trading days,
  end]`` to (a) the window's worst one-day book loss and (b) the first day in the window whose HS VaR 99 is 50%
  above its level on the window's first day; positive = the alarm came first, negative = after, null = no alarm (or
  no such day).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np
import pandas as pd

from risk_platform import paths
from risk_platform.crisis_windows import CRISIS_WINDOWS, crisis_window
from risk_platform.monitor.anomaly import AnomalyDetector
from risk_platform.monitor.metric_history import METRICS, book_metric_history, bundled_market_inputs, market_state
from risk_platform.portfolio.positions import load_portfolio

VALIDATION = ("2004-01-01", "2009-12-31")
TEST = ("2010-01-01", "2019-12-31")
TARGET_FALSE_ALARMS_PER_DAY = 1 / 20
EARLY_DAYS = 10  # trading days before a window's start that count as inside it (early warning)
LEAD_SEARCH_DAYS = 20  # trading days before a window's start where the lead's first alarm may fall
LEAD_WINDOWS = ("covid_2020", "rates_2022")
VAR_RISE = 1.5
TRADING_DAYS_PER_YEAR = 252
GRID = {"k": (3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0), "lam": (0.9, 0.94, 0.97, 0.99),
        "min_sigma": (0.0, 0.005, 0.01, 0.02)}


def alarm_days(history: pd.DataFrame, **settings) -> pd.Series:
    """Per day of ``history``, the metrics that alarmed (comma-separated; '' when none), one detector over all."""
    detector = AnomalyDetector(METRICS, **settings)
    values = history[list(METRICS)].to_dict("records")
    out = [",".join(a.metric for a in detector.observe(v, day)) for v, day in zip(values, history.index, strict=True)]
    return pd.Series(out, index=history.index)


def window_mask(days: pd.DatetimeIndex, early: int = EARLY_DAYS) -> pd.Series:
    """Per day: the key of the crisis window it lies in (``early`` trading days before a start count), or ''."""
    keys = pd.Series("", index=days)
    for w in CRISIS_WINDOWS:
        first = days.searchsorted(w.start)
        start = days[max(first - early, 0)]
        keys[(days >= start) & (days <= w.end)] = w.key
    return keys


def period_figures(alarms: pd.Series, windows: pd.Series, start: str, end: str) -> dict:
    """False alarms (days, per trading day outside the windows, per year), alarm days inside the windows and
    per trading day there, and per window of the period whether it was hit (first alarm date)."""
    inside = (alarms.index >= start) & (alarms.index <= end)
    a, w = alarms[inside] != "", windows[inside]
    calm = w == ""
    false = int((a & calm).sum())
    fa_day = false / max(int(calm.sum()), 1)
    hits = {}
    for key in [k for k in w.unique() if k]:
        days = a[w == key]
        hits[key] = {"hit": bool(days.any()), "alarm_days": int(days.sum()), "days": len(days),
                     "chance_hit": 1.0 - (1.0 - fa_day) ** len(days),
                     "first_alarm": f"{days.index[days.to_numpy()][0]:%Y-%m-%d}" if days.any() else None}
    return {"trading_days": int(inside.sum()), "calm_days": int(calm.sum()), "false_alarm_days": false,
            "false_alarms_per_day": fa_day, "false_alarms_per_year": fa_day * TRADING_DAYS_PER_YEAR,
            "window_days": int((~calm).sum()), "window_alarm_days": int((a & ~calm).sum()),
            "window_alarms_per_day": int((a & ~calm).sum()) / max(int((~calm).sum()), 1), "windows": hits,
            "hit_rate": (sum(h["hit"] for h in hits.values()) / len(hits)) if hits else None}


def tune(history: pd.DataFrame, windows: pd.Series) -> tuple[dict, list[dict]]:
    """The chosen settings on the validation period and every candidate's figures (see the module docstring)."""
    rows = []
    for k, lam, floor in itertools.product(GRID["k"], GRID["lam"], GRID["min_sigma"]):
        settings = {"k": k, "lam": lam, "min_sigma": floor}
        fig = period_figures(alarm_days(history, **settings), windows, *VALIDATION)
        rows.append({**settings, "false_alarms_per_day": fig["false_alarms_per_day"],
                     "window_alarms_per_day": fig["window_alarms_per_day"], "hit_rate": fig["hit_rate"]})
    kept = [r for r in rows if r["false_alarms_per_day"] <= TARGET_FALSE_ALARMS_PER_DAY]
    if not kept:
        raise SystemExit(f"no setting of the grid meets {TARGET_FALSE_ALARMS_PER_DAY:.3f} false alarms per day")
    best = max(kept, key=lambda r: (r["window_alarms_per_day"], -r["false_alarms_per_day"], r["k"]))
    return {key: best[key] for key in GRID}, rows


def lead(history: pd.DataFrame, alarms: pd.Series, key: str) -> dict:
    """The first alarm's lead on the window's worst loss and on its VaR 99 rising 50% (trading days)."""
    w = crisis_window(key)
    days = history.index
    pos = pd.Series(np.arange(len(days)), index=days)
    in_window = (days >= w.start) & (days <= w.end)
    first = int(days.searchsorted(w.start))
    search = (pos.to_numpy() >= first - LEAD_SEARCH_DAYS) & (days <= w.end)
    alarmed = alarms[search & (alarms != "").to_numpy()]
    worst = history.loc[in_window, "pnl"].idxmin()
    var = history.loc[in_window, "var_99"]
    risen = var[var >= VAR_RISE * var.iloc[0]]
    out = {"window": f"{w.start:%Y-%m-%d}..{w.end:%Y-%m-%d}", "worst_loss_day": f"{worst:%Y-%m-%d}",
           "worst_loss_usd": float(-history.at[worst, "pnl"]),
           "var_99_at_start_usd": float(var.iloc[0]),
           "var_99_risen_50pct_day": f"{risen.index[0]:%Y-%m-%d}" if len(risen) else None,
           "first_alarm": None, "first_alarm_metrics": None, "lead_to_worst_loss_days": None,
           "lead_to_var_rise_days": None}
    if len(alarmed):
        day = alarmed.index[0]
        out.update(first_alarm=f"{day:%Y-%m-%d}", first_alarm_metrics=alarmed.iloc[0],
                   lead_to_worst_loss_days=int(pos[worst] - pos[day]),
                   lead_to_var_rise_days=int(pos[risen.index[0]] - pos[day]) if len(risen) else None)
    return out


def run() -> dict:
    """Every figure of the benchmark (see the module docstring)."""
    started = time.perf_counter()
    inputs = bundled_market_inputs()
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, inputs.instruments)
    history = book_metric_history(book, market_state(inputs))
    windows = window_mask(history.index)
    history_seconds = time.perf_counter() - started
    chosen, grid = tune(history, windows)
    alarms = alarm_days(history, **chosen)
    detector = AnomalyDetector(METRICS, **chosen)
    values = history[list(METRICS)].to_dict("records")
    t0 = time.perf_counter()
    for v, day in zip(values, history.index, strict=True):
        detector.observe(v, day)
    observe_us = 1e6 * (time.perf_counter() - t0) / len(values)
    return {"portfolio": book.name, "days": len(history),
            "history": f"{history.index[0]:%Y-%m-%d}..{history.index[-1]:%Y-%m-%d}",
            "target_false_alarms_per_day": TARGET_FALSE_ALARMS_PER_DAY, "chosen": chosen,
            "validation": period_figures(alarms, windows, *VALIDATION), "test": period_figures(alarms, windows, *TEST),
            "leads": {key: lead(history, alarms, key) for key in LEAD_WINDOWS},
            "observe_us_mean": observe_us, "history_seconds": history_seconds, "grid": grid,
            "seconds": time.perf_counter() - started}


def table(result: dict) -> str:
    """The figures as text."""
    c, v, t = result["chosen"], result["validation"], result["test"]
    lines = [f"{result['portfolio']}: {result['days']} days {result['history']}; detector on {', '.join(METRICS)}",
             f"tuned on {VALIDATION[0]}..{VALIDATION[1]} (target <= {TARGET_FALSE_ALARMS_PER_DAY:.3f} false alarms"
             f" per trading day): k = {c['k']:g}, lam = {c['lam']:g}, min_sigma = {c['min_sigma']:g}",
             f"validation: {v['false_alarm_days']} false alarm days / {v['calm_days']} calm days ="
             f" {v['false_alarms_per_day']:.4f}/day ({v['false_alarms_per_year']:.1f}/year); window alarm days"
             f" {v['window_alarm_days']}/{v['window_days']}; hits {_hits(v)}",
             f"test {TEST[0]}..{TEST[1]}: {t['false_alarm_days']} false alarm days / {t['calm_days']} calm days ="
             f" {t['false_alarms_per_day']:.4f}/day ({t['false_alarms_per_year']:.1f}/year); inside the windows"
             f" {t['window_alarm_days']}/{t['window_days']} = {t['window_alarms_per_day']:.4f}/day; hit rate"
             f" {t['hit_rate']:.0%}: {_hits(t)}"]
    for key, lead_ in result["leads"].items():
        lines.append(f"{key} {lead_['window']}: first alarm {lead_['first_alarm']} ({lead_['first_alarm_metrics']});"
                     f" worst loss {lead_['worst_loss_day']} (USD {lead_['worst_loss_usd']:,.0f}), lead"
                     f" {lead_['lead_to_worst_loss_days']} days; VaR 99 +50% on {lead_['var_99_risen_50pct_day']},"
                     f" lead {lead_['lead_to_var_rise_days']} days")
    defaults = AnomalyDetector()
    same = all(getattr(defaults, key) == value for key, value in c.items())
    lines.append(f"AnomalyDetector's defaults {'are' if same else 'are NOT'} the tuned settings")
    lines.append(f"observe(): {result['observe_us_mean']:.1f} us per update (4 metrics); history"
                 f" {result['history_seconds']:.1f} s; total {result['seconds']:.1f} s")
    return "\n".join(lines)


def _hits(period: dict) -> str:
    return ", ".join(f"{k} {'hit ' + h['first_alarm'] if h['hit'] else 'missed'} ({h['alarm_days']}/{h['days']}"
                     f" alarm days; by chance at the false-alarm rate {h['chance_hit']:.0%})"
                     for k, h in period["windows"].items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.monitor_anomaly", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    result = run()
    print(json.dumps(result, default=str) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
