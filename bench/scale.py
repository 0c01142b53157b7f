"""Scale benchmark: the main job's stages on a universe of N series, wall time and peak memory per stage.

``python -m bench.scale --universe N [--universe M ...] [--positions P] [--stages S,...] [--json] [--out FILE]
[--seed S] [--fast-dev-run] [--windows K,...]``; ``python -m bench.scale --plot FILE.json --png OUT.png`` draws
the cost curves (wall time and peak RSS against N per stage, log-log).

The universe is :func:`bench.universe.build_universe` (``N`` = 28 is the bundled panel), written as CSV files. The
stages mirror the main job's assets, with the same ``risk_platform`` calls:

* ``ingest``: load the files and the gate (plausibility + missing data, GX on, quarantine) as ``market_panel``
  does: :func:`~risk_platform.workflows.market_inputs.gated_market_inputs`;
* ``features``: returns, the daily features and the correlation table written to a feature store
  (``daily_features``, ``correlation_features``);
* ``train_lstm``, ``train_gnn``, ``train_gan``, ``train_vae``: each family of
  :data:`~risk_platform.families.FAMILIES` trained with its ``demo`` preset and registered in an MLflow store of
  the run's own (``train_and_register``, as the training assets do);
* ``validation``: every family retrained before each crisis window and backtested inside it, and the baselines,
  on the synthetic book (the crisis-window assets);
* ``promotion``: the walk-forward evidence and the promotion policy on the registered versions
  (``model_promotion``, without Dagster: the run's MLflow store and audit log);
* ``risk``: the full assessment :func:`~risk_platform.risk.engine.assess_portfolio` of a ``P``-position
  :func:`bench.risk_assessment.synthetic_book` over the universe, the models' outputs stood in as
  :mod:`bench.risk_assessment` does (random arrays shaped like them; the vine copula fitted and sampled).

Each stage runs in a fresh subprocess: its wall time includes Python's start and imports, its peak RSS is that
process's own (``wait4``'s ``ru_maxrss``); its CPU seconds (user + system) and the 1-minute load average when it
started are recorded beside them (on a shared machine the wall time depends on the load). Stages pass their
outputs through files in a temporary folder; a stage asked for runs its prerequisites first (recorded too). A
failing stage is recorded with its exit status and last error line; stages needing it are recorded as skipped, with
the reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAGES = ("ingest", "features", "train_lstm", "train_gnn", "train_gan", "train_vae", "validation", "promotion",
          "risk")
TRAINED_FAMILY = {"train_lstm": "lstm_vol", "train_gnn": "gnn_corr", "train_gan": "gan_scenarios",
                  "train_vae": "vae_scenarios"}
NEEDS: dict[str, tuple[str, ...]] = {
    "ingest": (), "features": ("ingest",), **{stage: ("features",) for stage in TRAINED_FAMILY},
    "validation": ("features",), "promotion": ("validation", *TRAINED_FAMILY), "risk": ("ingest",)}
PRESET = "demo"
DAILY_TABLE = "daily_features"  # the pipeline's daily feature table (assets/features.py)
DEFAULT_POSITIONS = 1_000
RESULT_FILE = "stage_result.json"


@dataclass(frozen=True)
class StageContext:
    """What a stage's subprocess is told: the run's folder and the benchmark's settings."""

    workdir: Path
    positions: int
    seed: int
    fast_dev_run: bool
    windows: tuple[str, ...]

    @property
    def store_root(self) -> Path:
        return self.workdir / "feature_store"

    @property
    def mlruns(self) -> Path:
        return self.workdir / "mlruns"


# ---------------------------------------------------------------- the stages (each runs in its own process)

def _instruments(ctx: StageContext):
    from risk_platform.data.loading import load_instruments

    return load_instruments(ctx.workdir / "universe" / "instruments.csv")


def _market_files(ctx: StageContext):
    """The ingest stage's outputs: instruments, accepted panel, returns, unavailable feeds."""
    import pandas as pd

    inputs = ctx.workdir / "ingest"
    return (_instruments(ctx), pd.read_parquet(inputs / "panel.parquet"), pd.read_parquet(inputs / "returns.parquet"),
            _unavailable(ctx))


def _unavailable(ctx: StageContext) -> list[str]:
    """The feeds the ingest stage's gate rejected."""
    return json.loads((ctx.workdir / "ingest" / "unavailable.json").read_text())


def _book_exposure(ctx: StageContext, panel, instruments):
    """The validation book (the synthetic book of ``ctx.positions`` positions over the feeds the gate accepted: a
    rejected feed has no features to validate against) as factor exposures."""
    from bench.risk_assessment import synthetic_book
    from risk_platform.validation.crisis import book_exposure

    unavailable = set(_unavailable(ctx))
    accepted = instruments[~instruments["symbol"].isin(unavailable)].reset_index(drop=True)
    return book_exposure(synthetic_book(accepted, ctx.positions, ctx.seed), panel, instruments)


def _registry(ctx: StageContext):
    """The run's own MLflow store and alias audit log, laid out as ``resources.mlflow.embedded_mlflow`` lays out
    the embedded one (built here from ``risk_platform``: the ``resources`` package imports Dagster)."""
    from risk_platform.models.audit import AuditLog
    from risk_platform.models.registry import ModelRegistry

    audit = AuditLog(ctx.mlruns / "alias_audit.jsonl")
    return ModelRegistry(f"sqlite:///{ctx.mlruns.resolve() / 'mlflow.db'}",
                         artifact_root=str(ctx.mlruns.resolve() / "artifacts"), audit=audit), audit


def stage_ingest(ctx: StageContext) -> str:
    from risk_platform.data.loading import load_prices
    from risk_platform.data.quality import default_suite_path, load_suite
    from risk_platform.workflows.market_inputs import gated_market_inputs

    instruments = _instruments(ctx)
    raw = load_prices(ctx.workdir / "universe" / "prices.csv", instruments).frame
    inputs = gated_market_inputs(raw, instruments, load_suite(default_suite_path()), gx=True,
                                 quarantine_dir=ctx.workdir / "quarantine")
    out = ctx.workdir / "ingest"
    out.mkdir(exist_ok=True)
    inputs.panel.to_parquet(out / "panel.parquet")
    inputs.returns.to_parquet(out / "returns.parquet")
    (out / "unavailable.json").write_text(json.dumps(inputs.unavailable))
    return (f"{len(raw):,} rows; {len(inputs.unavailable)} feed(s) rejected"
            + (f" ({', '.join(sorted(inputs.unavailable)[:3])}{', ...' if len(inputs.unavailable) > 3 else ''})"
               if inputs.unavailable else ""))


def stage_features(ctx: StageContext) -> str:
    from risk_platform.features.correlation import LATEST_TABLE, NEIGHBOUR_TABLE, correlation_tables
    from risk_platform.features.engineering import series_features
    from risk_platform.features.returns import wide_returns
    from risk_platform.features.store import FeatureStore
    from risk_platform.regime import RegimeRule

    instruments, panel, returns, _ = _market_files(ctx)
    store = FeatureStore(ctx.store_root)
    daily = store.write(DAILY_TABLE, series_features(returns, panel, instruments, RegimeRule()))
    del panel
    tables = correlation_tables(wide_returns(returns))  # as correlation_features writes them
    neighbours = store.write(NEIGHBOUR_TABLE, tables.neighbours)
    latest = store.write(LATEST_TABLE, tables.latest)
    size = sum(f.stat().st_size for table in (NEIGHBOUR_TABLE, LATEST_TABLE)
               for f in (ctx.store_root / table).rglob("*.parquet"))
    return (f"daily {daily.rows:,} rows; correlations: {neighbours.rows:,} neighbour rows + {latest.rows:,}"
            f" latest pairs, {size / 2**20:.1f} MB on disk")


def stage_train(ctx: StageContext, family_key: str) -> str:
    from risk_platform.families import FAMILIES
    from risk_platform.features.store import FeatureStore
    from risk_platform.workflows.training import train_and_register

    daily = FeatureStore(ctx.store_root).read(DAILY_TABLE, verify=True)
    registry, audit = _registry(ctx)
    tags = {"dagster_run_id": "bench.scale", "dagster_asset_key": family_key, "partition_key": "none",
            "git_sha": _git_commit(), "data_sha256": "bench.scale", "gx_validation_id": "bench.scale"}
    trained = train_and_register(FAMILIES[family_key], registry, audit, daily, _instruments(ctx), preset=PRESET,
                                 fast_dev_run=ctx.fast_dev_run, tags=tags, dataset_name=f"{DAILY_TABLE}@bench",
                                 actor="bench.scale")
    out = ctx.workdir / "trained"
    out.mkdir(exist_ok=True)
    (out / f"{family_key}.json").write_text(json.dumps(trained.to_dict(), default=float))
    return f"{PRESET} preset{' (fast_dev_run)' if ctx.fast_dev_run else ''}, registered v{trained.version.version}"


def stage_validation(ctx: StageContext) -> str:
    from risk_platform.crisis_windows import crisis_window
    from risk_platform.families import FAMILIES
    from risk_platform.features.store import FeatureStore
    from risk_platform.validation import crisis

    instruments, panel, _, _ = _market_files(ctx)
    daily = FeatureStore(ctx.store_root).read(DAILY_TABLE, verify=True)
    exposure = _book_exposure(ctx, panel, instruments)
    windows = [crisis_window(key) for key in ctx.windows]
    results: dict[str, dict[str, dict]] = {"baselines": {}}
    for window in windows:
        results["baselines"][window.key] = crisis.validate_baselines(daily, window, exposure).to_dict()
    for key, family in FAMILIES.items():
        trained = ctx.workdir / "trained" / f"{key}.json"
        version = json.loads(trained.read_text())["version"] if trained.exists() else None
        results[key] = {}
        for window in windows:
            result = family.validate_window(daily, instruments, window, exposure, PRESET, ctx.fast_dev_run)
            results[key][window.key] = {**result.to_dict(), "candidate_version": version, "preset": PRESET}
    (ctx.workdir / "validation.json").write_text(json.dumps(results, default=str))
    evaluated = sum(v["status"] == "evaluated" for k in FAMILIES for v in results[k].values())
    return f"{len(FAMILIES)} families x {len(windows)} window(s) + baselines; {evaluated} family-windows evaluated"


def stage_promotion(ctx: StageContext) -> str:
    from risk_platform.families import FAMILIES
    from risk_platform.features.store import FeatureStore
    from risk_platform.models.governance import PromotionPolicy
    from risk_platform.validation.crisis import WindowValidation
    from risk_platform.workflows.promotion import promote_families, validated_candidate, walk_forward_evidence

    instruments, panel, _, _ = _market_files(ctx)
    stored = json.loads((ctx.workdir / "validation.json").read_text())
    registry, audit = _registry(ctx)
    daily = FeatureStore(ctx.store_root).read(DAILY_TABLE, verify=True)

    def windows(values: dict[str, dict]) -> list[WindowValidation]:
        return [WindowValidation.from_dict({k: v for k, v in value.items()
                                            if k not in ("candidate_version", "preset")}) for value in values.values()]

    candidates = {k: validated_candidate(registry, f, stored[k]) for k, f in FAMILIES.items()}
    walk_forward = walk_forward_evidence(registry, candidates, daily, _book_exposure(ctx, panel, instruments))
    promotion = promote_families(
        registry, audit, PromotionPolicy(), candidates=candidates,
        windows={k: windows(stored[k]) for k in FAMILIES}, baselines=windows(stored["baselines"]),
        tags={"dagster_run_id": "bench.scale", "dagster_asset_key": "model_promotion", "git_sha": _git_commit(),
              "partition_key": "none"}, actor="bench.scale", walk_forward=walk_forward)
    return "; ".join(f"{d.model} v{d.version} {'passed' if d.passed else 'refused'}" for d in promotion.decisions)


def stage_risk(ctx: StageContext) -> str:
    import numpy as np

    from bench.risk_assessment import N_SCENARIOS, copula_scenarios, model_inputs_for, synthetic_book
    from risk_platform.risk.config import COPULA_TRUNCATION, RiskConfig
    from risk_platform.risk.engine import assess_portfolio
    from risk_platform.risk.market import prepare_market

    instruments, panel, returns, unavailable = _market_files(ctx)
    t0 = time.perf_counter()
    market = prepare_market(panel, returns, instruments, unavailable=unavailable)
    prepare_s = time.perf_counter() - t0
    book = synthetic_book(instruments, ctx.positions, ctx.seed)
    copula, generation = copula_scenarios(market, N_SCENARIOS, COPULA_TRUNCATION)
    vols = np.sqrt(np.nan_to_num(market.next_var, nan=1e-4))
    models = [model_inputs_for(market.symbols, vols, N_SCENARIOS)]
    config = RiskConfig(mc_scenarios=N_SCENARIOS, fit_copula=False)
    laps = []
    for _ in range(2):  # the first run warms caches (calendars), as bench.risk_assessment does
        t0 = time.perf_counter()
        report = assess_portfolio(book, market, config, models, copula, stress=True)
        laps.append(time.perf_counter() - t0)
    copula_text = (f"copula fit {generation['copula_fit_ms'] / 1000:.1f} s + {N_SCENARIOS:,} draws"
                   f" {generation['copula_sample_ms'] / 1000:.1f} s" if copula is not None
                   else generation.get("copula_skipped", "no copula"))
    return (f"{ctx.positions:,} positions, {len(market.symbols)} factors, {len(report.methods)} methods:"
            f" assessment {laps[-1]:.2f} s (first {laps[0]:.2f} s); prepare_market {prepare_s:.1f} s; {copula_text}")


STAGE_FUNCTIONS: dict[str, Callable[[StageContext], str]] = {
    "ingest": stage_ingest, "features": stage_features, "validation": stage_validation,
    "promotion": stage_promotion, "risk": stage_risk,
    **{stage: (lambda ctx, key=key: stage_train(ctx, key)) for stage, key in TRAINED_FAMILY.items()}}


def run_stage_here(stage: str, ctx: StageContext) -> int:
    """The child's side: run ``stage`` and write its note to the stage's result file."""
    note = STAGE_FUNCTIONS[stage](ctx)
    (ctx.workdir / f"{stage}.{RESULT_FILE}").write_text(json.dumps({"note": note}))
    return 0


# ---------------------------------------------------------------- the parent: run, measure, record

def stages_with_prerequisites(requested: list[str]) -> list[str]:
    """``requested`` and every stage they need, in pipeline order."""
    unknown = [s for s in requested if s not in STAGES]
    if unknown:
        raise SystemExit(f"unknown stage(s) {', '.join(unknown)} (expected {', '.join(STAGES)})")
    wanted: set[str] = set()
    pending = list(requested)
    while pending:
        stage = pending.pop()
        if stage not in wanted:
            wanted.add(stage)
            pending.extend(NEEDS[stage])
    return [s for s in STAGES if s in wanted]


@dataclass(frozen=True)
class ChildRun:
    """One measured child process: exit status (negative: the signal), wall and CPU (user + system) seconds, peak
    RSS (``wait4``'s ``ru_maxrss``), and ``stopped``: why the parent killed it ('' when it did not)."""

    code: int
    wall_s: float
    peak_rss_mb: float
    cpu_s: float
    stopped: str = ""


@dataclass(frozen=True)
class Limits:
    """Optional guards of a shared machine: a child whose RSS exceeds ``max_rss_mb`` (sampled from ``/proc``
    every ``POLL_S``) or that runs longer than ``timeout_s`` is killed and recorded as failed with the reason."""

    max_rss_mb: float | None = None
    timeout_s: float | None = None


POLL_S = 0.2


def _current_rss_mb(pid: int) -> float:
    """The resident set of process ``pid`` now (``/proc/<pid>/status`` VmRSS; 0 where unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return 0.0


def measured_child(args: list[str], log: Path, limits: Limits = Limits()) -> ChildRun:
    """Run ``python -m bench.scale <args>`` as a child and measure it (its own peak RSS and CPU time: ``wait4``),
    killing it when it breaks ``limits``."""
    t0 = time.perf_counter()
    stopped = ""
    with open(log, "wb") as err:
        child = subprocess.Popen([sys.executable, "-m", "bench.scale", *args], stdout=err, stderr=err)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if not stopped and limits.max_rss_mb is not None and _current_rss_mb(child.pid) > limits.max_rss_mb:
                stopped = f"stopped: RSS above the {limits.max_rss_mb:,.0f} MB limit"
            if not stopped and limits.timeout_s is not None and time.perf_counter() - t0 > limits.timeout_s:
                stopped = f"stopped: still running after the {limits.timeout_s:,.0f} s limit"
            if stopped:
                child.kill()
                _, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(POLL_S)
    child.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(child.returncode, time.perf_counter() - t0, usage.ru_maxrss / 1024.0,  # ru_maxrss: kB
                    usage.ru_utime + usage.ru_stime, stopped)


def failure_reason(run: ChildRun, log: Path) -> str:
    """One line: why the parent stopped the child, the signal that ended it, or the last line of its output."""
    if run.stopped:
        return run.stopped
    if run.code < 0:
        name = signal.Signals(-run.code).name
        return f"killed by {name}" + (" (out of memory?)" if -run.code == signal.SIGKILL else "")
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"exit {run.code}: {lines[-1].strip()[:300] if lines else 'no output'}"


def run_universe(n_series: int, stages: list[str], positions: int, seed: int, fast_dev_run: bool,
                 windows: tuple[str, ...], keep: Path | None = None, limits: Limits = Limits()) -> dict[str, Any]:
    """Build the universe, then run each stage in its own process; per stage wall_s, peak_rss_mb, status, note."""
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix=f"scale{n_series}_") as tmp:
        workdir = keep or Path(tmp)
        common = ["--workdir", str(workdir), "--positions", str(positions), "--seed", str(seed),
                  "--windows", ",".join(windows)] + (["--fast-dev-run"] if fast_dev_run else [])
        log = workdir / "universe.log"
        run = measured_child(["--build-universe", str(n_series), *common], log, limits)
        universe = {"wall_s": round(run.wall_s, 2), "peak_rss_mb": round(run.peak_rss_mb, 1)}
        if run.code != 0:
            universe["error"] = failure_reason(run, log)
            return {"universe": universe, "stages": {s: _skipped("the universe could not be built") for s in stages}}
        universe.update(json.loads((workdir / "universe" / "construction.json").read_text()))
        commit = _git_commit()  # per stage: a table of record may merge stages measured at different commits
        for stage in stages:
            blocked = [need for need in NEEDS[stage] if results.get(need, {}).get("status") != "ok"]
            if blocked:
                why = results.get(blocked[0], {}).get("status", "not run")
                results[stage] = _skipped(f"needs {blocked[0]} ({why})")
                continue
            log, load = workdir / f"{stage}.log", os.getloadavg()[0]
            run = measured_child(["--child-stage", stage, *common], log, limits)
            ok = run.code == 0 and not run.stopped
            results[stage] = {"wall_s": round(run.wall_s, 2), "peak_rss_mb": round(run.peak_rss_mb, 1),
                              "status": "ok" if ok else "failed", "cpu_s": round(run.cpu_s, 2),
                              "load_1m_at_start": round(load, 2), "git_commit": commit,
                              "note": (json.loads((workdir / f"{stage}.{RESULT_FILE}").read_text())["note"] if ok
                                       else failure_reason(run, log))}
            print(f"  N={n_series} {stage}: {results[stage]['status']} {run.wall_s:.1f} s {run.peak_rss_mb:.0f} MB",
                  file=sys.stderr)
    return {"universe": universe, "stages": results}


def _skipped(reason: str) -> dict[str, Any]:
    return {"wall_s": None, "peak_rss_mb": None, "status": "skipped", "note": reason}


def build_universe_here(n_series: int, ctx: StageContext) -> int:
    """The child's side of the universe build: write the files and what they hold."""
    from bench.universe import build_universe

    universe = build_universe(n_series, ctx.seed)
    universe.write(ctx.workdir / "universe")
    facts = {"series": len(universe.instruments), "rows": len(universe.prices),
             "construction": universe.construction}
    (ctx.workdir / "universe" / "construction.json").write_text(json.dumps(facts))
    return 0


def _git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """CPU model, cores and RAM of this machine (Linux ``/proc``; ``platform`` elsewhere)."""
    model, ram_gb = platform.processor() or platform.machine(), None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "ram_gb": ram_gb, "os": platform.platform(),
            "python": platform.python_version()}


def conditions(positions: int, seed: int, fast_dev_run: bool, windows: tuple[str, ...], limits: Limits
               ) -> dict[str, Any]:
    """What the figures depend on besides N: settings, the niceness and the machine's load when measured."""
    return {"positions": positions, "seed": seed, "preset": PRESET, "fast_dev_run": fast_dev_run,
            "max_rss_mb": limits.max_rss_mb, "stage_timeout_s": limits.timeout_s,
            "crisis_windows": list(windows), "nice": os.nice(0),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2)}


def merge_results(existing: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` measurements merged into ``existing``: per N, stages measured again replace the old ones, the others
    stay; the header (commit, machine, date, conditions) is the newest run's."""
    merged = {**existing, **{k: v for k, v in new.items() if k != "universes"}}
    universes = {k: dict(v) for k, v in existing.get("universes", {}).items()}
    for n, entry in new.get("universes", {}).items():
        old = universes.get(n, {})
        universes[n] = {**old, **entry, "stages": {**old.get("stages", {}), **entry.get("stages", {})}}
    merged["universes"] = dict(sorted(universes.items(), key=lambda item: int(item[0])))
    return merged


def table_text(results: dict[str, Any]) -> str:
    """A table per N: stage, wall s, peak RSS MB, CPU s, status and note."""
    lines = []
    for n, entry in results["universes"].items():
        universe = entry.get("universe", {})
        lines.append(f"N = {n}: {universe.get('construction', '')}")
        lines.append(f"  {'stage':<11} {'wall s':>8} {'peak RSS MB':>12} {'CPU s':>8}  status   note")
        if "wall_s" in universe:
            lines.append(f"  {'(universe)':<11} {universe['wall_s']:>8.1f} {universe['peak_rss_mb']:>12.0f} {'':>8}  "
                         f"{'ok' if 'error' not in universe else 'failed':<8} "
                         + universe.get("error", "building the files (not a stage)"))
        for stage, row in entry["stages"].items():
            wall = f"{row['wall_s']:.1f}" if row["wall_s"] is not None else "-"
            rss = f"{row['peak_rss_mb']:.0f}" if row["peak_rss_mb"] is not None else "-"
            cpu = f"{row['cpu_s']:.1f}" if row.get("cpu_s") is not None else "-"
            lines.append(f"  {stage:<11} {wall:>8} {rss:>12} {cpu:>8}  {row['status']:<8} {row['note']}")
    return "\n".join(lines)


def growth_exponent(n: tuple[int, ...], cost: tuple[float, ...]) -> float | None:
    """The log-log slope of ``cost`` against ``n`` from the smallest to the largest N (1: linear, 2: N squared);
    None with fewer than two N."""
    if len(n) < 2 or n[0] == n[-1] or min(cost[0], cost[-1]) <= 0:
        return None
    return math.log(cost[-1] / cost[0]) / math.log(n[-1] / n[0])


def cost_curves_png(results: dict[str, Any]) -> bytes:
    """Wall time and peak RSS against N per stage (log-log; completed stages only; the legend gives each curve's
    slope from the smallest to the largest N), as PNG bytes."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from risk_platform.render.charts import plt, png_bytes

    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    measured_n: set[int] = set()
    for stage in STAGES:
        points = sorted((int(n), row["wall_s"], row["peak_rss_mb"]) for n, entry in results["universes"].items()
                        if (row := entry["stages"].get(stage)) and row["status"] == "ok")
        if not points:
            continue
        n, wall, rss = zip(*points, strict=True)
        measured_n.update(n)
        for ax, cost in zip(axes, (wall, rss), strict=True):
            slope = growth_exponent(n, cost)
            ax.plot(n, cost, marker="o", ms=3, lw=1, label=stage + (f" (N^{slope:.1f})" if slope is not None else ""))
    for ax, label in zip(axes, ("wall time per stage (s)", "peak RSS per stage (MB)"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sorted(measured_n))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("series in the universe (N)", fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
        ax.legend(fontsize=6, ncol=2)
    return png_bytes(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--universe", type=int, action="append", default=[], help="N series (repeatable)")
    parser.add_argument("--positions", type=int, default=DEFAULT_POSITIONS)
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fast-dev-run", action="store_true", help="one batch per training (a smoke check)")
    parser.add_argument("--windows", default="", help="crisis windows to validate (default: all seven)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", type=Path, help="merge the results into this JSON file")
    parser.add_argument("--max-rss-gb", type=float, help="kill a stage whose RSS exceeds this (a shared machine)")
    parser.add_argument("--stage-timeout-s", type=float, help="kill a stage running longer than this")
    parser.add_argument("--keep", type=Path, help="keep the run's files in this folder (one N only)")
    parser.add_argument("--plot", type=Path, help="a results JSON to draw (with --png)")
    parser.add_argument("--png", type=Path)
    parser.add_argument("--child-stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--build-universe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from risk_platform.crisis_windows import WINDOW_KEYS

    windows = tuple(w for w in args.windows.split(",") if w) or WINDOW_KEYS
    unknown = [w for w in windows if w not in WINDOW_KEYS]
    if unknown:
        parser.error(f"unknown crisis window(s) {', '.join(unknown)} (expected {', '.join(WINDOW_KEYS)})")
    if args.child_stage or args.build_universe:
        ctx = StageContext(args.workdir, args.positions, args.seed, args.fast_dev_run, windows)
        if args.build_universe:
            return build_universe_here(args.build_universe, ctx)
        return run_stage_here(args.child_stage, ctx)
    if args.plot:
        if not args.png:
            parser.error("--plot needs --png OUT.png")
        from risk_platform.io import atomic_write

        png = cost_curves_png(json.loads(args.plot.read_text()))
        atomic_write(args.png, lambda tmp: tmp.write_bytes(png))
        print(f"cost curves: {args.png}")
        return 0
    if not args.universe:
        parser.error("give --universe N (or --plot FILE --png OUT)")
    if args.keep and len(args.universe) > 1:
        parser.error("--keep takes one --universe")
    stages = stages_with_prerequisites([s.strip() for s in args.stages.split(",") if s.strip()])
    limits = Limits(args.max_rss_gb * 1024 if args.max_rss_gb else None, args.stage_timeout_s)
    header = {"benchmark": "bench.scale", "git_commit": _git_commit(), "machine": machine(),
              "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "conditions": conditions(args.positions, args.seed, args.fast_dev_run, windows, limits)}
    results = {**header, "universes": {}}
    for n_series in args.universe:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        measured = run_universe(n_series, stages, args.positions, args.seed, args.fast_dev_run, windows, args.keep,
                                limits)
        results["universes"][str(n_series)] = {**header, **measured}
    if args.out:
        existing = json.loads(args.out.read_text()) if args.out.exists() else {}
        from risk_platform.io import atomic_write_text

        atomic_write_text(args.out, json.dumps(merge_results(existing, results), indent=1) + "\n")
    print(json.dumps(results, indent=1) if args.json else table_text(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
