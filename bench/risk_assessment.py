"""Benchmark of the full risk assessment: ``python -m bench.risk_assessment [--runs 20]``.

What is timed (each run): :func:`~risk_platform.risk.engine.assess_portfolio` of a 1,000-position book
synthesised from the bundled symbols (equities, ETFs, Treasuries by DV01, FX, commodities, equity options)
on the prepared market of the bundled data's last date (through the missing-data gate, as the pipeline does:
:func:`~risk_platform.workflows.market_inputs.gated_market_inputs`), with one set of model inputs "loaded": per-factor
volatilities and a correlation matrix, 50,000 GAN-like and 50,000 VAE-like scenarios, 50,000 stress-regime
scenarios of each, regime probabilities (random arrays stand in for the models' outputs: timing only), and
50,000 vine-copula scenarios drawn beforehand from the fitted copula (the copula is a model: fitted and
sampled once per market update). Everything in the report is computed: every VaR method, contributions,
liquidity and concentration, regime calibration and the full stress suite.

Printed separately (not in the per-assessment figure): market preparation (once per as-of date / data
update), the vine-copula fit and the 50,000-draw sample.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from risk_platform import paths
from risk_platform.data.loading import load_instruments, load_prices
from risk_platform.data.quality import default_suite_path, load_suite
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.copula import fit_vine_copula
from risk_platform.risk.engine import assess_portfolio
from risk_platform.risk.market import prepare_market
from risk_platform.risk.report import ModelInputs, ScenarioSet
from risk_platform.workflows.market_inputs import gated_market_inputs

N_POSITIONS = 1_000
N_SCENARIOS = 50_000


def synthetic_book(instruments: pd.DataFrame, n: int = N_POSITIONS, seed: int = 0) -> Portfolio:
    """A ``Portfolio`` of ``n`` positions cycling through the bundled symbols (options on SPX, RUT, EEM)."""
    rng = np.random.default_rng(seed)
    inst = instruments[instruments["asset_class"] != "volatility"].reset_index(drop=True)
    rows = []
    for i in range(n):
        row = inst.iloc[i % len(inst)]
        size = float(rng.lognormal(14, 1) * rng.choice([-1, 1]))
        base = {"position_id": f"P{i:04d}", "symbol": row["symbol"], "asset_class": row["asset_class"],
                "sector": f"sector {i % 11}", "region": row["region"], "avg_daily_volume": 5e9 * rng.uniform(0.2, 5),
                "bid_ask_bps": rng.uniform(0.3, 5), "quantity": np.nan, "notional": size, "dv01": np.nan,
                "delta": np.nan, "gamma": np.nan, "vega": np.nan, "theta": np.nan}
        if row["quote_type"] == "yield_pct":
            base["dv01"] = abs(size) * 5e-4
        if i % 50 == 7:
            base.update(symbol=["SPX", "RUT", "EEM"][i % 3], asset_class="equity", notional=abs(size) * 0.03,
                        delta=-0.3 * abs(size), gamma=1.5 * abs(size), vega=0.002 * abs(size), theta=-1e-4 * abs(size))
        rows.append(base)
    return Portfolio(name="synthetic 1,000-position book", nav=2.0e9, base_currency="USD",
                     positions=pd.DataFrame(rows), source="synthetic", nav_source="synthetic")


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--positions", type=int, default=N_POSITIONS)
    parser.add_argument("--scenarios", type=int, default=N_SCENARIOS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    instruments = load_instruments(paths.BUNDLED_INSTRUMENTS)
    raw = load_prices(paths.BUNDLED_PRICES, instruments)
    inputs = gated_market_inputs(raw.frame, instruments, load_suite(default_suite_path()))
    t0 = time.perf_counter()
    market = prepare_market(inputs.panel, inputs.returns, instruments, unavailable=inputs.unavailable)
    prepare_ms = 1000 * (time.perf_counter() - t0)
    book = synthetic_book(instruments, args.positions)
    names = [s for s in market.symbols]
    cols = market.columns(names)
    rows = np.flatnonzero(market.observed.any(axis=1))[-500:]
    x = np.where(market.observed[np.ix_(rows, cols)], market.returns[np.ix_(rows, cols)], np.nan)
    t0 = time.perf_counter()
    vine = fit_vine_copula(x, names, threads=2)
    fit_ms = 1000 * (time.perf_counter() - t0)
    t0 = time.perf_counter()
    copula = ScenarioSet(tuple(names), vine.sample(args.scenarios, 0, 2).astype(np.float32), vine.label)
    sample_ms = 1000 * (time.perf_counter() - t0)
    vols = np.sqrt(np.nan_to_num(market.next_var, nan=1e-4))
    models = [model_inputs_for(market.symbols, vols, args.scenarios)]
    config = RiskConfig(mc_scenarios=args.scenarios)
    times, laps = [], []
    for _ in range(args.runs + 1):
        t0 = time.perf_counter()
        report = assess_portfolio(book, market, config, models, copula, stress=True)
        times.append(1000 * (time.perf_counter() - t0))
        laps.append(report.timings_ms)
    times = times[1:]  # the first run warms caches (calendars)
    out = {
        "positions": args.positions, "scenarios_per_set": args.scenarios, "runs": args.runs,
        "methods": len(report.methods), "stress_scenarios": len(report.stress_test_results),
        "assess_p50_ms": float(np.percentile(times, 50)), "assess_p95_ms": float(np.percentile(times, 95)),
        "stage_p50_ms": {k: float(np.median([lap[k] for lap in laps[1:]])) for k in laps[-1]},
        "prepare_market_ms": prepare_ms, "copula_fit_ms": fit_ms, "copula_sample_ms": sample_ms,
    }
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"full risk assessment, {args.positions} positions, {out['methods']} methods,"
              f" {args.scenarios:,} scenarios per set, {out['stress_scenarios']} stress scenarios:"
              f" p50 {out['assess_p50_ms']:.1f} ms, p95 {out['assess_p95_ms']:.1f} ms over {args.runs} runs")
        print("  stages (p50 ms): " + ", ".join(f"{k} {v:.1f}" for k, v in out["stage_p50_ms"].items()))
        print(f"  once per market update: prepare_market {prepare_ms:.0f} ms, vine copula fit {fit_ms:.0f} ms,"
              f" {args.scenarios:,} copula draws {sample_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
