"""Benchmark of the full risk assessment:
``python -m bench.risk_assessment [--runs 20] [--positions P] [--factors N] [--copula-trunc T] [--profile FILE]``.

What is timed (each run): :func:`~risk_platform.risk.engine.assess_portfolio` of a ``P``-position book (1,000 by
default) synthesised from the universe's instruments (:func:`synthetic_book`: equities, ETFs, Treasuries by DV01,
FX, commodities, equity options) on the prepared market of the data's last date (through the missing-data gate,
as the pipeline does: :func:`~risk_platform.workflows.market_inputs.gated_market_inputs`). The universe is the
bundled data, or with ``--factors N`` a universe of N series built from it (:func:`bench.universe.build_universe`).
One set of model inputs is "loaded": per-factor volatilities and a correlation matrix, 50,000 GAN-like and 50,000
VAE-like scenarios, 50,000 stress-regime scenarios of each, regime probabilities (random arrays stand in for the
models' outputs: timing only), and 50,000 vine-copula scenarios drawn beforehand from the fitted copula (the
copula is a model: fitted and sampled once per market update). Everything in the report is computed: every VaR
method, contributions, liquidity and concentration, regime calibration and the full stress suite.

Printed: p50 and p90 of the assessment, the p50 of each stage (``report.timings_ms``), and separately (not in the
per-assessment figure) market preparation (once per as-of date / data update) and scenario generation: the
vine-copula fit (truncated after ``--copula-trunc`` trees; factor-structured above 64 series) and its 50,000-draw
sample, wall and CPU time, and the assessment's p50 plus the draws (generation included).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import tempfile
import time

import numpy as np
import pandas as pd

from risk_platform import paths
from risk_platform.data.loading import load_instruments, load_prices
from risk_platform.data.quality import default_suite_path, load_suite
from risk_platform.errors import ComputationError
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.config import COPULA_TRUNCATION, RiskConfig
from risk_platform.risk.copula import fit_vine_copula
from risk_platform.risk.engine import assess_portfolio
from risk_platform.risk.market import MarketState, prepare_market
from risk_platform.risk.report import ModelInputs, ScenarioSet
from risk_platform.workflows.market_inputs import gated_market_inputs

N_POSITIONS = 1_000
N_SCENARIOS = 50_000


def synthetic_book(instruments: pd.DataFrame, n: int = N_POSITIONS, seed: int = 0) -> Portfolio:
    """A ``Portfolio`` of ``n`` positions cycling through the universe's tradable instruments (volatility
    indices left out): yields held by DV01, every 50th position (from the 8th) an equity option on one of the
    universe's equities in turn (none without an equity). Sizes lognormal around 1.2 M USD, long or short."""
    rng = np.random.default_rng(seed)
    inst = instruments[instruments["asset_class"] != "volatility"].reset_index(drop=True)
    if inst.empty:
        raise ValueError("synthetic_book: the universe has no tradable instrument (only volatility indices)")
    rows = inst.iloc[np.arange(n) % len(inst)].reset_index(drop=True)
    size = rng.lognormal(14, 1, n) * rng.choice([-1, 1], n)
    nan = np.full(n, np.nan)
    book = pd.DataFrame({
        "position_id": [f"P{i:05d}" for i in range(n)], "symbol": rows["symbol"].to_numpy(dtype=object),
        "asset_class": rows["asset_class"].to_numpy(dtype=object),
        "sector": [f"sector {i % 11}" for i in range(n)], "region": rows["region"].to_numpy(dtype=object),
        "avg_daily_volume": 5e9 * rng.uniform(0.2, 5, n), "bid_ask_bps": rng.uniform(0.3, 5, n),
        "quantity": nan, "notional": size, "dv01": np.where(rows["quote_type"].eq("yield_pct"), np.abs(size) * 5e-4,
                                                               np.nan),
        "delta": nan, "gamma": nan, "vega": nan, "theta": nan})
    equities = inst.loc[inst["asset_class"] == "equity", ["symbol", "region"]].reset_index(drop=True)
    options = np.flatnonzero(np.arange(n) % 50 == 7) if len(equities) else np.array([], dtype=int)
    if len(options):
        under = equities.iloc[np.arange(len(options)) % len(equities)]
        big = np.abs(size[options])
        book.loc[options, ["symbol", "region"]] = under.to_numpy(dtype=object)
        book.loc[options, "asset_class"] = "equity"
        book.loc[options, ["notional", "dv01", "delta", "gamma", "vega", "theta"]] = np.column_stack(
            [0.03 * big, np.full(len(options), np.nan), -0.3 * big, 1.5 * big, 0.002 * big, -1e-4 * big])
    return Portfolio(name=f"synthetic {n:,}-position book", nav=2.0e9 * max(1.0, n / N_POSITIONS),
                     base_currency="USD", positions=book, source="synthetic", nav_source="synthetic")


def model_inputs_for(symbols: tuple[str, ...], vols: np.ndarray, n: int = N_SCENARIOS, seed: int = 1) -> ModelInputs:
    """Random arrays shaped like the models' outputs (timing only)."""
    rng = np.random.default_rng(seed)
    k = len(symbols)
    a = rng.normal(size=(k, k))
    cov = a @ a.T + k * np.eye(k)
    d = np.sqrt(np.diag(cov))
    corr = cov / np.outer(d, d)
    chol = np.linalg.cholesky(corr) * vols[None, :]

    def draws(scale: float) -> np.ndarray:
        return ((rng.standard_normal((n, k)) @ chol.T) * scale).astype(np.float32)  # torch models give float32

    return ModelInputs(label="current", symbols=symbols, vols=vols * 1.1, correlation=corr,
                       scenarios={"gan": draws(1.0), "vae": draws(1.05)},
                       stress_scenarios={"gan": draws(2.5), "vae": draws(2.2)},
                       regime_probability={"low": 0.2, "normal": 0.7, "high": 0.1},
                       versions={"vols": "lstm_vol v0", "correlation": "gnn_corr v0", "gan": "gan_scenarios v0",
                                 "vae": "vae_scenarios v0", "regime": "lstm_vol v0"})


def market_data(n_factors: int | None, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The instruments and the raw delivery (:attr:`~risk_platform.data.loading.RawPrices.frame`): the bundled data,
    or a universe of ``n_factors`` series built from them (:func:`bench.universe.build_universe`), written to files
    and loaded as a delivery is."""
    if n_factors is None:
        instruments = load_instruments(paths.BUNDLED_INSTRUMENTS)
        return instruments, load_prices(paths.BUNDLED_PRICES, instruments).frame
    from bench.universe import build_universe

    with tempfile.TemporaryDirectory() as folder:
        prices_path, instruments_path = build_universe(n_factors, seed).write(folder)
        instruments = load_instruments(instruments_path)
        return instruments, load_prices(prices_path, instruments).frame


def copula_scenarios(market: MarketState, n: int, trunc_lvl: int | None) -> tuple[ScenarioSet | None, dict]:
    """The vine copula fitted on the last 500 days on which any feed moved (complete days only; factor-structured
    above ``RiskConfig().copula_structured_above`` series), and ``n`` draws from it, with the fit and sample
    times (wall and CPU of all threads, ms); (None, why) when the fit is impossible."""
    names = list(market.symbols)
    rows = np.flatnonzero(market.observed.any(axis=1))[-500:]
    x = np.where(market.observed[rows], market.returns[rows], np.nan)
    config = RiskConfig()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        vine = fit_vine_copula(x, names, trunc_lvl=trunc_lvl, threads=2, start=f"{market.dates[rows[0]]:%Y-%m-%d}",
                               end=f"{market.dates[rows[-1]]:%Y-%m-%d}",
                               structured_above=config.copula_structured_above, n_factors=config.copula_factors)
    except ComputationError as exc:
        return None, {"copula_skipped": str(exc)}
    fit_ms, fit_cpu_ms = 1000 * (time.perf_counter() - t0), 1000 * (time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    draws = vine.sample(n, 0, 2).astype(np.float32, copy=False)
    sample_ms, sample_cpu_ms = 1000 * (time.perf_counter() - t0), 1000 * (time.process_time() - c0)
    return ScenarioSet(tuple(names), draws, vine.label), {
        "copula": vine.label, "copula_trunc_lvl": trunc_lvl, "copula_fit_days": vine.n_obs, "copula_fit_ms": fit_ms,
        "copula_fit_cpu_ms": fit_cpu_ms, "copula_sample_ms": sample_ms, "copula_sample_cpu_ms": sample_cpu_ms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--positions", type=int, default=N_POSITIONS)
    parser.add_argument("--factors", type=int, default=None,
                        help="a universe of this many series (bench.universe); default: the bundled data")
    parser.add_argument("--scenarios", type=int, default=N_SCENARIOS)
    parser.add_argument("--copula-trunc", type=int, default=COPULA_TRUNCATION,
                        help=f"vine trees fitted (default {COPULA_TRUNCATION}, 0: all)")
    parser.add_argument("--profile", default="", help="write a cProfile of the timed runs to this file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    instruments, raw = market_data(args.factors)
    inputs = gated_market_inputs(raw, instruments, load_suite(default_suite_path()))
    t0 = time.perf_counter()
    market = prepare_market(inputs.panel, inputs.returns, instruments, unavailable=inputs.unavailable)
    prepare_ms = 1000 * (time.perf_counter() - t0)
    book = synthetic_book(instruments, args.positions)
    copula, generation = copula_scenarios(market, args.scenarios, args.copula_trunc or None)
    vols = np.sqrt(np.nan_to_num(market.next_var, nan=1e-4))
    models = [model_inputs_for(market.symbols, vols, args.scenarios)]
    config = RiskConfig(mc_scenarios=args.scenarios, fit_copula=False)
    profiler = cProfile.Profile() if args.profile else None
    times, cpu, laps = [], [], []
    for run in range(args.runs + 1):
        if profiler is not None and run == 1:
            profiler.enable()
        t0, c0 = time.perf_counter(), time.process_time()
        report = assess_portfolio(book, market, config, models, copula, stress=True)
        times.append(1000 * (time.perf_counter() - t0))
        cpu.append(1000 * (time.process_time() - c0))
        laps.append(report.timings_ms)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    times, cpu, laps = times[1:], cpu[1:], laps[1:]  # the first run warms caches (calendars, market figures)
    out = {
        "factors": len(market.symbols), "positions": args.positions, "scenarios_per_set": args.scenarios,
        "runs": args.runs, "methods": len(report.methods), "stress_scenarios": len(report.stress_test_results),
        "assess_p50_ms": float(np.percentile(times, 50)), "assess_p90_ms": float(np.percentile(times, 90)),
        "assess_p95_ms": float(np.percentile(times, 95)), "assess_cpu_p50_ms": float(np.percentile(cpu, 50)),
        "stage_p50_ms": {k: float(np.median([lap[k] for lap in laps])) for k in laps[-1]},
        "prepare_market_ms": prepare_ms, **generation,
    }
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"full risk assessment, {args.positions:,} positions over {out['factors']} factors,"
              f" {out['methods']} methods, {args.scenarios:,} scenarios per set, {out['stress_scenarios']} stress"
              f" scenarios: p50 {out['assess_p50_ms']:.1f} ms, p90 {out['assess_p90_ms']:.1f} ms over {args.runs} runs"
              f" (CPU time, all threads: p50 {out['assess_cpu_p50_ms']:.1f} ms)")
        print("  stages (p50 ms): " + ", ".join(f"{k} {v:.1f}" for k, v in out["stage_p50_ms"].items()))
        copula_line = (f"{out['copula']} (truncated after {args.copula_trunc or 'no'} trees) fit"
                       f" {out['copula_fit_ms']:.0f} ms (CPU {out['copula_fit_cpu_ms']:.0f} ms), {args.scenarios:,}"
                       f" copula draws {out['copula_sample_ms']:.0f} ms (CPU {out['copula_sample_cpu_ms']:.0f} ms);"
                       f" assessment p50 + draws {out['assess_p50_ms'] + out['copula_sample_ms']:.0f} ms"
                       if copula is not None else generation["copula_skipped"])
        print(f"  once per market update: prepare_market {prepare_ms:.0f} ms; scenario generation: {copula_line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
