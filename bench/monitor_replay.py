"""The live monitor's anomaly detector on replayed history, through the monitor itself:
``python -m bench.monitor_replay [--records DIR] [--json]``.

Three replays of the bundled prices through ``risk-platform monitor --replay --record`` (the sample book, the
non-model methods: the registered models were trained on data after these dates, so using them would be look-ahead;
2,000 copula draws; 4 synthetic updates a day on the Brownian bridge between the real closes): validation
2004-2009, test 2010-2019, episodes 2019-10..2022-12. Each replay records every snapshot's detector metrics and
close observations (``--record``), so the detector's live logic (each close observed, each update checked against
the coming close's band, warmed on the book's daily history at start) is run again offline on the records for each
band width ``k``: the records are reused from ``--records`` when present (a replay takes 10-20 minutes). The
offline run with the width the replays ran with must give the monitor's recorded alarms (``reproduces_monitor``),
so the evaluation is the monitor's own logic on the monitor's own figures.

Tuning on validation only: the ``k`` of the grid with the most alarm days inside the crisis windows among those with
at most one false-alarm day per 20 trading days, fewer false alarms breaking ties (as :mod:`bench.monitor_anomaly`);
reported once on the test period: false-alarm days per trading day and per year, each window's hit; leads on COVID
2020 and rates 2022 (first alarm to the worst one-day loss and to VaR 99 up 50%, trading days). The monitor's
default (``risk_platform.monitor.app.LIVE_ANOMALY_K``) is the chosen ``k``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from bench.monitor_anomaly import TARGET_FALSE_ALARMS_PER_DAY, lead, period_figures, window_mask
from risk_platform import paths
from risk_platform.monitor.anomaly import DEFAULT_K, AnomalyDetector
from risk_platform.monitor.metric_history import book_metric_history, bundled_market_inputs
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.risk.market import prepare_market

STEPS_PER_DAY = 4
PERIODS = {"validation": ("2004-01-02", 1564, ("2004-01-01", "2009-12-31")),
           "test": ("2010-01-04", 2602, ("2010-01-01", "2019-12-31")),
           "episodes": ("2019-10-01", 847, ("2019-10-01", "2022-12-31"))}
K_GRID = (3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0)
RECORD_K = DEFAULT_K  # the width the replays run with (the offline runs must reproduce their alarms)
WARM_DAYS = 250  # as the monitor (risk_platform.monitor.app.daily_history)


def record(name: str, folder: Path) -> Path:
    """The record of one replay (made by the monitor when absent)."""
    start, days, _ = PERIODS[name]
    path = folder / f"{name}.jsonl"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "risk_platform.cli", "monitor", "--replay", str(paths.BUNDLED_PRICES),
               "--start", start, "--updates", str(days * STEPS_PER_DAY), "--steps-per-day", str(STEPS_PER_DAY),
               "--speed", "0", "--no-page", "--no-models", "--mc-scenarios", "2000", "--state-dir",
               str(folder / f"{name}_state"), "--alerts", str(folder / f"{name}_alerts.jsonl"), "--record",
               str(path), "--evaluation-date", "2024-12-31", "--anomaly-k", str(RECORD_K), "--json"]
    subprocess.run(command, check=True, capture_output=True)
    return path


def replay_alarms(rows: list[dict], warm: pd.DataFrame, days: pd.DatetimeIndex, k: float = DEFAULT_K
                  ) -> tuple[pd.Series, list[list[str]]]:
    """The monitor's detector logic (band width ``k``, closes and intraday checks alike) on a record: per session
    day of ``days`` the metrics that alarmed, and per record row its alarms (to compare with the monitor's)."""
    detector = AnomalyDetector(k=k)
    detector.warm(warm)
    start = rows[0]["close_observation"]
    detector.rebase(start)
    by_day = pd.Series("", index=days)
    per_row = []
    for row in rows:
        found = []
        closed = row["close_observation"]
        if closed and not closed.get("start"):
            found += detector.observe(closed, closed["time"])
        found += detector.check(row["metrics"], row["time"])
        per_row.append([a.metric for a in found])
        if found:
            day = days[min(days.searchsorted(pd.Timestamp(row["asof"]), side="right"), len(days) - 1)]
            by_day[day] = ",".join(filter(None, [by_day[day], *per_row[-1]]))
    return by_day, per_row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.monitor_replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", default=str(paths.state_dir() / "bench" / "monitor_replay"),
                        help="folder of the replays' records (made when absent)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    inputs = bundled_market_inputs()
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, inputs.instruments)
    full = book_metric_history(book, prepare_market(inputs.panel, inputs.returns, inputs.instruments, None,
                                                    inputs.unavailable))
    windows = window_mask(full.index)
    records = {name: [json.loads(line) for line in record(name, Path(args.records)).read_text().splitlines()]
               for name in PERIODS}

    def alarms(name: str, k: float) -> tuple[pd.Series, list[list[str]]]:
        rows = records[name]
        start_close = pd.Timestamp(rows[0]["asof"])
        market = prepare_market(inputs.panel, inputs.returns, inputs.instruments, start_close, inputs.unavailable)
        warm = book_metric_history(book, market).tail(WARM_DAYS)  # the monitor's warm-up, as of its start
        return replay_alarms(rows, warm, full.index, k)

    reproduces = {name: alarms(name, RECORD_K)[1] == [r["anomalies"] for r in records[name]] for name in PERIODS}
    grid = []
    for k in K_GRID:
        fig = period_figures(alarms("validation", k)[0], windows, *PERIODS["validation"][2])
        grid.append({"k": k, "false_alarms_per_day": fig["false_alarms_per_day"],
                     "window_alarms_per_day": fig["window_alarms_per_day"], "hit_rate": fig["hit_rate"]})
    kept = [g for g in grid if g["false_alarms_per_day"] <= TARGET_FALSE_ALARMS_PER_DAY]
    chosen = max(kept, key=lambda g: (g["window_alarms_per_day"], -g["false_alarms_per_day"]))["k"] if kept \
        else max(K_GRID)
    episodes = alarms("episodes", chosen)[0]
    result = {"updates_per_day": STEPS_PER_DAY, "reproduces_monitor": reproduces, "record_k": RECORD_K,
              "target_false_alarms_per_day": TARGET_FALSE_ALARMS_PER_DAY, "k_chosen": chosen,
              "validation_grid": grid,
              "validation": period_figures(alarms("validation", chosen)[0], windows, *PERIODS["validation"][2]),
              "test": period_figures(alarms("test", chosen)[0], windows, *PERIODS["test"][2]),
              "leads": {key: lead(full, episodes, key) for key in ("covid_2020", "rates_2022")},
              "seconds": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(result, default=str))
    else:
        test = result["test"]
        print(f"k chosen on 2004-2009: {chosen}; the offline detector reproduces the monitor's alarms: {reproduces}")
        hits = ", ".join(f"{key}: {value['first_alarm'] or 'missed'}" for key, value in test["windows"].items())
        print(f"test 2010-2019: {test['false_alarm_days']} false-alarm days / {test['calm_days']} calm days ="
              f" {test['false_alarms_per_day']:.4f} a day ({test['false_alarms_per_year']:.1f} a year); windows"
              f" {hits}")
        for key, value in result["leads"].items():
            print(f"{key}: first alarm {value['first_alarm']}, lead to the worst loss"
                  f" {value['lead_to_worst_loss_days']} days, to VaR +50% {value['lead_to_var_rise_days']} days")
    return 0


if __name__ == "__main__":
    sys.exit(main())
