"""Benchmarks (figures, not pass/fail): ``python -m bench`` or ``make bench``.

* the main job (``make demo``: pipeline, seven crisis windows, promotion, risk) through Dagster on the bundled
  data: wall time and peak memory (target < 10 min);
* the ``intraday_risk`` job end to end in Dagster on the instance the main job filled (target < 30 s);
* ``risk-platform check-data`` on the bundled panel, start-up included (target < 5 s);
* ``risk-platform risk`` on the sample book, start-up included;
* ``risk-platform backtest`` of SPX (2000-2024, about 6,000 days) per method, start-up included (target < 5 s
  for ``hs``, ``ewma``, ``fhs``; ``garch`` and ``lstm`` reported);
* ``risk-platform backtest --portfolio`` of the sample book over 2005-2024 per method, start-up included
  (target < 10 s each on 2 cores; ``lstm`` reads the project's registered LSTM, or the store that
  ``MLFLOW_TRACKING_URI`` names; ``--book-backtest`` times only these);
* the full risk assessment of 1,000 positions with every method (:mod:`bench.risk_assessment`, target
  p50 < 250 ms);
* ``--models``: training, inference and quality figures of the models (:mod:`bench.models`).

Run on its own: ``python -m bench.lstm_zero_shot``, the LSTM's leave-series-out (zero-shot) QLIKE against EWMA
and GARCH-t, 2020-2024 (:mod:`bench.lstm_zero_shot`; eight demo trainings); ``python -m bench.tails``, 99% VaR
walk-forward 2005-2024 on the 28 bundled series for every method without a registered model, passes and tick loss
against FHS (:mod:`bench.tails`; about five minutes on one core).
``python -m bench.scale --universe N``, the main job's stages on a universe of N series, wall time and peak RSS per
stage (:mod:`bench.scale`, universes from :mod:`bench.universe`).
``python -m bench.monitor_anomaly``, the live monitor's anomaly detector tuned on 2004-2009 and reported on
2010-2019 on the sample book's daily risk metrics (:mod:`bench.monitor_anomaly`; about 15 s).
``python -m bench.monitor_replay``, the same detector on the monitor's own figures: the sample book replayed through
``risk-platform monitor --record`` over 2004-2009 (tuning) and 2010-2019 (test) (:mod:`bench.monitor_replay`;
about 40 minutes the first time, seconds on its saved records).
``python -m bench.monitor [--positions P] [--updates N] [--speed X] [--redis]``, the live monitor's latency
(update to published snapshot, p50/p99) and memory growth through ``risk-platform monitor --replay``
(:mod:`bench.monitor`; 10 minutes at 1 Hz: ``--updates 600 --speed 1``).

Each command runs in a fresh subprocess; peak memory is that process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from risk_platform import paths
from risk_platform.errors import ComputationError
from risk_platform.validation.methods import METHODS


def _run(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB of the child, exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode not in (0, 3):
        raise ComputationError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return wall, max(peak, before) / 1024, done.returncode


def pipeline_figures() -> dict[str, dict[str, float]]:
    """The main and intraday jobs, the command line and the 1,000-position assessment, timed."""
    py = sys.executable
    figures: dict[str, dict[str, float]] = {}
    wall, peak, _ = _run([py, "-m", "jobs.demo"])
    figures["main_job"] = {"wall_s": round(wall, 1), "peak_rss_mb": round(peak)}
    walls = [_run([py, "-m", "jobs.demo", "--intraday"])[0] for _ in range(3)]
    figures["intraday_job"] = {"median_wall_s": round(statistics.median(walls), 1), "max_wall_s": round(max(walls), 1)}
    data = ["--prices", str(paths.BUNDLED_PRICES), "--instruments", str(paths.BUNDLED_INSTRUMENTS)]
    walls = [_run([py, "-m", "risk_platform.cli", "check-data", *data])[0] for _ in range(3)]
    figures["check_data"] = {"median_wall_s": round(statistics.median(walls), 2), "max_wall_s": round(max(walls), 2)}
    risk = [py, "-m", "risk_platform.cli", "risk", "--portfolio", str(paths.SAMPLE_PORTFOLIO)]
    walls = [_run(risk)[0] for _ in range(3)]
    figures["risk_cli"] = {"median_wall_s": round(statistics.median(walls), 2)}
    figures["backtest_cli_s"] = {
        method: round(_run([py, "-m", "risk_platform.cli", "backtest", *data, "--symbol", "SPX", "--method", method,
                            "--confidence", "0.99", "--json"])[0], 2)
        for method in METHODS}
    figures["backtest_book_cli_s"] = book_backtest_figures()
    assessment = subprocess.run([py, "-m", "bench.risk_assessment", "--json"], capture_output=True, text=True,
                                check=True)
    timed = json.loads(assessment.stdout)
    figures["risk_assessment_1000_positions"] = {k: round(timed[k], 1) for k in ("assess_p50_ms", "assess_p95_ms")}
    figures["machine"] = {"cpus": os.cpu_count() or 0}
    return figures


def book_backtest_figures() -> dict[str, float | str]:
    """Wall seconds of ``risk-platform backtest --portfolio`` on the sample book, 2005-2024, per method (a fresh
    process each: start-up, the gate and the model load included); a method that cannot run says why."""
    command = [sys.executable, "-m", "risk_platform.cli", "backtest", "--portfolio", str(paths.SAMPLE_PORTFOLIO),
               "--confidence", "0.99", "--start", "2005-01-01", "--end", "2024-12-31", "--json", "--method"]
    figures: dict[str, float | str] = {}
    for method in METHODS:
        try:
            figures[method] = round(_run([*command, method])[0], 2)
        except ComputationError as exc:  # e.g. lstm with no registered model in the store
            figures[method] = f"not measured: {exc}"
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--models", action="store_true",
                        help="train every model (demo configs) on the feature store the main job filled, and time it")
    parser.add_argument("--book-backtest", action="store_true",
                        help="only time risk-platform backtest --portfolio on the sample book, per method")
    args = parser.parse_args(argv)
    if args.book_backtest:
        print(json.dumps({"backtest_book_cli_s": book_backtest_figures(), "cpus": os.cpu_count() or 0}, indent=1))
        return 0
    if args.models:
        from bench.models import model_figures  # torch: only when the models are benchmarked

        print(json.dumps(model_figures(), indent=1))
        return 0
    print(json.dumps(pipeline_figures(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
