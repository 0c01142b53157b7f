"""``python -m bench.lstm_market_inputs``: does the LSTM gain from the market-stress inputs
(:mod:`risk_platform.features.market_stress`: volatility index level and change, rate and credit moves, share of
stressed series)? Flag off against flag on (``LSTMConfig.market_inputs``), same seed, demo preset (``--preset``).

(a) the decision figures, on a validation split that ends before 2020: trained on targets up to 2016-12-31 on
    the bundled panel cut at 2019-12-31, scored 2017-2019 on every series with GARCH-t history: pooled QLIKE of
    the LSTM, EWMA(0.94) and GARCH(1,1)-t, the LSTM's ratio to EWMA, the seconds per fit, per training seed
    (``--seeds``: the seed moves the ratio about as much as the flag does) with the mean ratio over the seeds and
    the number of seeds where on is better; and flag on against off on the same forecasts of each seed: the
    Diebold-Mariano test of the daily cross-series mean QLIKE (one figure per day: the series of a day share
    its shocks), ``dm_p_off_worse`` (one-sided: small when on is better), and the number of series whose QLIKE
    on is below off;
(b) the test figures, reported once and not used to decide: the COVID and rates-shock crisis windows on the
    validation book (the bundled sample book), the LSTM family retrained before each window as the crisis
    validation does it (:func:`risk_platform.validation.crisis.validate_lstm`, the family's validation epochs),
    99% VaR exceptions and zone of ``lstm`` and ``evt_lstm`` beside every baseline
    (:func:`~risk_platform.validation.crisis.validate_baselines`) and the baseline with the fewest exceptions.

Printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from bench.lstm_zero_shot import bundled_features, bundled_inputs
from risk_platform import paths
from risk_platform.crisis_windows import crisis_window
from risk_platform.families import model_family
from risk_platform.models.lstm import LSTMConfig, LSTMResult, train_lstm_vol
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.scoring import qlike
from risk_platform.validation import crisis
from risk_platform.validation.methods import BASELINES
from risk_platform.validation.significance import diebold_mariano

VALIDATION_DATA_END = "2019-12-31"
VALIDATION_TRAIN_END = "2016-12-31"
TEST_WINDOWS = ("covid_2020", "rates_2022")
ALPHA = 0.99


def validation_split(daily: pd.DataFrame, instruments: pd.DataFrame, config: LSTMConfig) -> LSTMResult:
    """(a): train to :data:`VALIDATION_TRAIN_END` on data to :data:`VALIDATION_DATA_END`, scored after it."""
    history = daily[daily["date"] <= VALIDATION_DATA_END]
    return train_lstm_vol(history, replace(config, train_end=VALIDATION_TRAIN_END), instruments=instruments)


def split_figures(result: LSTMResult) -> dict:
    """Pooled QLIKE of the LSTM and its baselines on the validation split, the seconds of the fit, the roles."""
    m = result.metrics
    return {"qlike_lstm": round(m["qlike_lstm"], 4), "qlike_ewma": round(m["qlike_ewma"], 4),
            "qlike_garch_t": round(m["qlike_garch_t"], 4), "ratio_to_ewma": round(m["qlike_ratio_to_ewma"], 4),
            "ratio_to_garch_t": round(m["qlike_ratio_to_garch_t"], 4), "n": int(result.evaluation.at["pooled", "n"]),
            "train_seconds": round(result.train_seconds, 1),
            "market_roles": None if result.market is None else result.market.metadata()}


def daily_qlike(forecasts: pd.DataFrame) -> pd.Series:
    """The LSTM's QLIKE (variances over the window's squared scale) averaged across series per origin date."""
    loss = qlike(forecasts["realized"] / forecasts["scale2"], forecasts["lstm"] / forecasts["scale2"])
    return pd.Series(loss, index=pd.DatetimeIndex(forecasts["origin"])).dropna().groupby(level=0).mean()


def on_against_off(off: LSTMResult, on: LSTMResult) -> dict:
    """Diebold-Mariano of the daily mean QLIKE, off as the model and on as the benchmark, on the same days."""
    a, b = daily_qlike(off.forecasts), daily_qlike(on.forecasts)
    days = a.index.intersection(b.index)
    test = diebold_mariano(a[days].to_numpy(), b[days].to_numpy())
    per_series = on.evaluation.drop("pooled")["qlike_lstm"] < off.evaluation.drop("pooled")["qlike_lstm"]
    return {"days": len(days), "dm_stat_off_minus_on": round(test.statistic, 3),
            "dm_p_off_worse": round(test.p_worse, 4), "series_on_better": int(per_series.sum()),
            "series": int(len(per_series))}


def at_99(validation: crisis.WindowValidation) -> dict[str, dict]:
    """Method -> exceptions, days, zone at 99% of one window's validation."""
    return {b["method"]: {"exceptions": int(b["exceptions"]), "n": int(b["n"]), "zone": b["zone"]}
            for b in validation.backtests if abs(b["alpha"] - ALPHA) < 1e-9}


def window_figures(daily: pd.DataFrame, instruments: pd.DataFrame, exposure: pd.Series, key: str,
                   configs: dict[str, LSTMConfig], preset: str) -> dict:
    """(b) for one window: the baselines, and ``lstm``/``evt_lstm`` per flag."""
    window = crisis_window(key)
    lstm_family = model_family("lstm_vol")
    baselines = at_99(crisis.validate_baselines(daily, window, exposure))
    known = {m: b for m, b in baselines.items() if m in BASELINES}
    best = min(known, key=lambda m: known[m]["exceptions"]) if known else None
    out: dict = {"baselines": baselines, "best_baseline": best}
    for label, config in configs.items():
        validation_config = replace(lstm_family.validation_config(preset), market_inputs=config.market_inputs,
                                    seed=config.seed)
        started = time.perf_counter()
        validated = lstm_family.validate(daily, instruments, window, exposure, validation_config, False)
        rows = at_99(validated)
        out[label] = {m: rows.get(m) for m in ("lstm", "evt_lstm")} | {
            "status": validated.status, "seconds": round(time.perf_counter() - started, 1),
            "qlike_ratio_to_ewma": round(validated.metrics.get("qlike_ratio_to_ewma", float("nan")), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lstm_market_inputs", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("demo", "full"), default="demo")
    parser.add_argument("--skip-windows", action="store_true", help="only (a), the validation split")
    parser.add_argument("--seeds", default=None,
                        help="training seeds of (a), comma-separated (default: the preset's); (b) uses the first")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    inputs = bundled_inputs()
    daily, instruments = bundled_features(inputs)
    preset = LSTMConfig.demo() if args.preset == "demo" else LSTMConfig.full()
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [preset.seed]
    splits = {}
    for seed in seeds:
        configs = {"off": replace(preset, market_inputs=False, seed=seed),
                   "on": replace(preset, market_inputs=True, seed=seed)}
        split = {k: validation_split(daily, instruments, c) for k, c in configs.items()}
        splits[str(seed)] = {**{k: split_figures(r) for k, r in split.items()},
                             "on_against_off": on_against_off(split["off"], split["on"])}
    ratios = {k: [s[k]["ratio_to_ewma"] for s in splits.values()] for k in ("off", "on")}
    mean_ratio = {k: round(float(np.mean(v)), 4) for k, v in ratios.items()}
    report: dict = {"preset": args.preset, "seeds": seeds,
                    "validation_split": {"train_end": VALIDATION_TRAIN_END, "data_end": VALIDATION_DATA_END,
                                         "mean_ratio_to_ewma": mean_ratio,
                                         "seeds_on_better": int(np.sum(np.less(ratios["on"], ratios["off"]))),
                                         "per_seed": splits}}
    configs = {"off": replace(preset, market_inputs=False, seed=seeds[0]),
               "on": replace(preset, market_inputs=True, seed=seeds[0])}
    if not args.skip_windows:
        exposure = crisis.book_exposure(load_portfolio(paths.SAMPLE_PORTFOLIO, instruments), inputs.panel,
                                        instruments)
        report["crisis_windows_99"] = {key: window_figures(daily, instruments, exposure, key, configs, args.preset)
                                       for key in TEST_WINDOWS}
    report["seconds"] = round(time.perf_counter() - started, 1)
    json.dump(report, sys.stdout, indent=2, default=str)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
