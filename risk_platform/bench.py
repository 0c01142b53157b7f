"""Benchmarks (figures, not pass/fail): ``python -m risk_platform.bench`` or ``make bench``.

* the main job through Dagster on the bundled data: wall time and peak memory (target < 3 min, < 2 GB);
* ``risk-platform check-data`` on the bundled panel, start-up included (target < 5 s);
* ``risk-platform risk`` on the sample book, start-up included.

Each command runs in a fresh subprocess; peak memory is that process's maximum resident set size.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

from risk_platform import paths


def _run(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB of the child, exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return wall, max(peak, before) / 1024, done.returncode


def main() -> int:
    py = sys.executable
    figures: dict[str, dict[str, float]] = {}
    wall, peak, _ = _run([py, "-m", "jobs.demo"])
    figures["main_job"] = {"wall_s": round(wall, 1), "peak_rss_mb": round(peak)}
    check = [py, "-m", "risk_platform.cli", "check-data", "--prices", str(paths.BUNDLED_PRICES),
             "--instruments", str(paths.BUNDLED_INSTRUMENTS)]
    walls = [_run(check)[0] for _ in range(3)]
    figures["check_data"] = {"median_wall_s": round(statistics.median(walls), 2), "max_wall_s": round(max(walls), 2)}
    risk = [py, "-m", "risk_platform.cli", "risk", "--portfolio", str(paths.SAMPLE_PORTFOLIO)]
    walls = [_run(risk)[0] for _ in range(3)]
    figures["risk_cli"] = {"median_wall_s": round(statistics.median(walls), 2)}
    figures["machine"] = {"cpus": os.cpu_count() or 0}
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
