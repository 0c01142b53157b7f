"""Benchmark of the live monitor, through its command line:
``python -m bench.monitor [--positions P] [--updates N] [--speed X] [--no-models] [--redis] [--json]``.

Runs ``risk-platform monitor --replay <bundled prices> --speed X --updates N --json`` (the real command: market
data through the gate, the aliased models of the project's MLflow store unless ``--no-models``, the vine-copula
draws, the anomaly detector, the limits and the alert log in a temporary folder) on the bundled sample book, or
with ``--positions P`` on a ``P``-position book synthesised from the bundled instruments
(:func:`bench.risk_assessment.synthetic_book`); with ``--redis`` every snapshot is also published to a Redis
stream on a ``redis-server`` started on 127.0.0.1 for the run. Prints the monitor's figures: update-to-published
latency p50/p99 (ms), snapshots published, anomalies, resident memory growth over the run (first tenth of the
updates to the last), and the command's wall time.

Targets (issue 17): the sample book with every method and the aliased models, p50 < 100 ms and p99 < 250 ms;
1,000 positions p50 < 250 ms; 10 minutes at 1 Hz (``--speed 1 --updates 600``) with memory growth < 5%.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from risk_platform import paths

KEYS = ("updates", "published", "rejected", "p50_ms", "p99_ms", "max_ms", "anomalies", "alerts_sent", "day_rolls",
        "refresh_waits", "rss_start_mb", "rss_end_mb", "rss_growth_pct", "rss_mb_by_tenth", "models_status")


def write_book(folder: Path, n: int) -> Path:
    """A ``n``-position CSV book on the bundled instruments."""
    from bench.risk_assessment import synthetic_book
    from risk_platform.data.loading import load_instruments

    book = synthetic_book(load_instruments(paths.BUNDLED_INSTRUMENTS), n)
    path = folder / f"book_{n}.csv"
    book.positions.to_csv(path, index=False)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.monitor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", type=int, help="a synthetic book of this many positions (default: sample)")
    parser.add_argument("--updates", type=int, default=120)
    parser.add_argument("--speed", type=float, default=1.0, help="updates per second")
    parser.add_argument("--start", default="2020-02-03", help="first replayed day (default: COVID's run-up)")
    parser.add_argument("--no-models", action="store_true")
    parser.add_argument("--redis", action="store_true", help="also publish to a local redis-server's stream")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        folder = Path(tmp)
        command = [sys.executable, "-m", "risk_platform.cli", "monitor", "--replay", str(paths.BUNDLED_PRICES),
                   "--start", args.start, "--speed", str(args.speed), "--updates", str(args.updates), "--json",
                   "--no-page", "--state-dir", str(folder / "monitor"), "--alerts", str(folder / "alerts.jsonl"),
                   "--evaluation-date", "2024-12-31"]
        if args.positions:
            command += ["--portfolio", str(write_book(folder, args.positions))]
        if args.no_models:
            command.append("--no-models")
        server = None
        if args.redis:
            binary = shutil.which("redis-server")
            if binary is None:
                raise SystemExit("bench.monitor --redis: redis-server not found (apt-get install redis-server)")
            port = free_port()
            server = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                       "--appendonly", "no"], stdout=subprocess.DEVNULL)
            time.sleep(0.5)
            command += ["--publish", f"redis://127.0.0.1:{port}/0"]
        start = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return done.returncode
        summary = json.loads(done.stdout.strip().splitlines()[-1])
    figures = {"book": f"{args.positions} positions" if args.positions else "sample book",
               "speed_updates_per_s": args.speed, **{k: summary.get(k) for k in KEYS},
               "sinks": summary.get("sinks"), "wall_s": round(wall, 1)}
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
