"""``python -m bench.lstm_zero_shot``: leave-series-out quality of the global LSTM (figures, not pass/fail).

The bundled series are split into folds stratified by asset class (sorted by class, then dealt round-robin:
7 folds of 4 for the 28 series). For each fold the LSTM (demo preset unless ``--preset full``) is trained
WITHOUT the fold's series (training targets up to ``train_end``: ``test_years`` before the data's last date,
2021-12-31 for the bundled data) and scores them, zero-shot, on every out-of-sample day after it, beside
EWMA(0.94) and GARCH(1,1)-t (fitted on each series' returns up to ``train_end``) on the same days. The same
figures follow for the model trained on every series ("seen").
Printed as JSON: pooled QLIKE of the three and the LSTM's ratios to EWMA and GARCH-t, overall and per asset
class, for ``zero_shot`` and ``seen``; what was run (folds, series, preset, seconds).

``--folds-run 0,3`` runs only those folds (a reduced rotation: the output names the folds and series run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from risk_platform import paths
from risk_platform.data.loading import load_instruments, load_prices
from risk_platform.data.quality import load_suite
from risk_platform.features.engineering import series_features
from risk_platform.models.lstm import LSTMConfig, fit_lstm_vol, out_of_sample_forecasts, score_forecasts, with_split
from risk_platform.workflows.market_inputs import MarketInputs, gated_market_inputs

SUITE = Path(__file__).resolve().parents[1] / "expectations" / "market_panel_completeness.json"


def bundled_inputs() -> MarketInputs:
    """The bundled panel through the gate (panel, returns, instruments)."""
    instruments = load_instruments(paths.BUNDLED_INSTRUMENTS)
    return gated_market_inputs(load_prices(paths.BUNDLED_PRICES, instruments).frame, instruments, load_suite(SUITE))


def bundled_features(inputs: MarketInputs | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bundled panel through the gate (or ``inputs``), as the feature store's ``daily_features`` table, and
    the instruments."""
    inputs = inputs or bundled_inputs()
    return series_features(inputs.returns, inputs.panel, inputs.instruments), inputs.instruments


def stratified_folds(instruments: pd.DataFrame, symbols: list[str], n_folds: int) -> list[list[str]]:
    """Series sorted by asset class then name, dealt round-robin into ``n_folds`` folds."""
    classes = instruments.set_index("symbol")["asset_class"]
    ordered = sorted(symbols, key=lambda s: (classes.get(s, "unknown"), s))
    return [ordered[i::n_folds] for i in range(n_folds)]


def summary(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Pooled and per-asset-class QLIKE of lstm, ewma, garch_t and the LSTM's ratios, with the day counts."""
    out = {}
    for key, row in score_forecasts(table, by="asset_class").iterrows():
        out[str(key)] = {"n": int(row["n"]), "series": int(table["symbol"].nunique() if key == "pooled" else
                                                            table.loc[table["asset_class"] == key, "symbol"].nunique()),
                         "qlike_lstm": round(row["qlike_lstm"], 4), "qlike_ewma": round(row["qlike_ewma"], 4),
                         "qlike_garch_t": round(row["qlike_garch_t"], 4),
                         "ratio_to_ewma": round(row["qlike_lstm"] / row["qlike_ewma"], 4),
                         "ratio_to_garch_t": round(row["qlike_lstm"] / row["qlike_garch_t"], 4)}
    return out


def leave_series_out(daily: pd.DataFrame, instruments: pd.DataFrame, config: LSTMConfig, n_folds: int,
                     folds_run: list[int] | None) -> dict:
    """Zero-shot (each fold held out of training) and seen (trained on all) forecast tables, scored."""
    config = with_split(daily, config)  # one split for every fold: counted back from the whole panel's last date
    symbols = sorted(daily["symbol"].unique())
    folds = stratified_folds(instruments, symbols, n_folds)
    run = folds_run if folds_run is not None else list(range(n_folds))
    classes = instruments.set_index("symbol")["asset_class"]
    zero_shot, seconds = [], {}
    for i in run:
        started = time.perf_counter()
        fitted = fit_lstm_vol(daily[~daily["symbol"].isin(folds[i])], config)
        table = out_of_sample_forecasts(fitted.forecaster, daily[daily["symbol"].isin(folds[i])], config)
        zero_shot.append(table.assign(fold=i))
        seconds[f"fold_{i}"] = round(time.perf_counter() - started, 1)
        print(f"fold {i} ({', '.join(folds[i])}): {seconds[f'fold_{i}']} s", file=sys.stderr, flush=True)
    held = sorted(s for i in run for s in folds[i])
    started = time.perf_counter()
    fitted = fit_lstm_vol(daily, config)
    seen = out_of_sample_forecasts(fitted.forecaster, daily[daily["symbol"].isin(held)], config)
    seconds["seen"] = round(time.perf_counter() - started, 1)
    zero = pd.concat(zero_shot, ignore_index=True)
    zero["asset_class"], seen["asset_class"] = zero["symbol"].map(classes), seen["symbol"].map(classes)
    days = zero[["symbol", "origin"]].merge(seen[["symbol", "origin"]])  # the same (series, day) pairs
    zero, seen = zero.merge(days), seen.merge(days)
    return {"preset": config.preset, "train_end": config.train_end, "folds": [",".join(f) for f in folds],
            "folds_run": run,
            "series_scored": held, "zero_shot": summary(zero), "seen": summary(seen), "seconds": seconds,
            "torch_threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lstm_zero_shot", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("demo", "full"), default="demo")
    parser.add_argument("--folds", type=int, default=7, help="number of folds (default 7: 4 series each)")
    parser.add_argument("--folds-run", help="comma-separated fold indices to run (default: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    daily, instruments = bundled_features()
    config = getattr(LSTMConfig, args.preset)()
    folds_run = [int(i) for i in args.folds_run.split(",")] if args.folds_run else None
    print(json.dumps(leave_series_out(daily, instruments, config, args.folds, folds_run), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
