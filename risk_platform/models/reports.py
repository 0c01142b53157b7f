"""What each training run logs besides its metrics: plots and tables (MLflow artifacts) and the model's
input example."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from risk_platform.models.baselines import garch_forecasts, series_returns
from risk_platform.models.datasets import REGIME_INDEX
from risk_platform.models.generator_quality import correlation_by_regime, evaluate_generators
from risk_platform.models.generators import FHSBootstrap, GeneratorResult, scenario_rows
from risk_platform.models.gnn import GNNResult, forecaster_input
from risk_platform.models.lstm import LSTMResult, build_sequences, predict
from risk_platform.models.plots import distributions, forecast_vs_realized, loss_curves
from risk_platform.models.sampler_inputs import scenario_inputs


@dataclass(frozen=True)
class TrainingReport:
    """Files to log as (local path, artifact folder) and an input example of 2+ rows."""

    artifacts: list[tuple[Path, str]]
    input_example: np.ndarray


def lstm_report(result: LSTMResult, daily: pd.DataFrame, folder: Path, series: str = "SPX") -> TrainingReport:
    """Loss curves, one series' out-of-sample forecast against realized and GARCH-t, the evaluation table."""
    cfg = result.config
    train_end = pd.Timestamp(cfg.train_end)
    series = series if series in result.symbols else result.symbols[0]
    test = build_sequences(daily, result.symbols, cfg.seq_len, "test", train_end)
    mask = test.symbol == series
    origins = pd.DatetimeIndex(test.origin[mask])
    garch, _ = garch_forecasts(series_returns(daily, series), train_end)
    realized = test.r2[mask]
    forecasts = {"LSTM": predict(result.forecaster, test.x[mask])[:, 0],
                 "GARCH(1,1)-t": garch.reindex(origins).to_numpy()}
    evaluation = folder / "evaluation_out_of_sample.csv"
    result.evaluation.to_csv(evaluation, index_label="series")
    return TrainingReport(
        artifacts=[
            (loss_curves(result.history, folder / "loss_curves.png", "LSTM training losses"), "plots"),
            (forecast_vs_realized(origins, realized, forecasts, folder / f"{series}_forecast_vs_realized.png",
                                  f"{series}: next-day volatility forecast, out of sample"), "plots"),
            (evaluation, "evaluation"),
        ],
        input_example=test.x[:2],
    )


def history_rows(history: dict[str, list[float]]) -> list[dict]:
    """``{"loss": [e0, e1, ...]}`` -> ``[{"epoch": 0, "loss": e0}, ...]`` for :func:`loss_curves`."""
    epochs = max((len(v) for v in history.values()), default=0)
    return [{"epoch": e, **{k: v[e] for k, v in history.items() if e < len(v)}} for e in range(epochs)]


def gnn_report(result: GNNResult, daily: pd.DataFrame, folder: Path) -> TrainingReport:
    """Loss curves, the latest forecast correlation matrix (CSV) and the out-of-sample scores."""
    as_of, inputs = forecaster_input(daily, result.symbols, result.config)
    with torch.no_grad():
        latest = pd.DataFrame(result.forecaster()(inputs).numpy().astype(float), index=list(result.symbols),
                              columns=list(result.symbols))
    forecast_csv = folder / f"forecast_correlation_{as_of:%Y-%m-%d}.csv"
    latest.to_csv(forecast_csv)
    scores = folder / "evaluation_out_of_sample.csv"
    pd.Series(result.metrics, name="value").to_csv(scores, index_label="metric")
    curves = loss_curves(history_rows(result.history), folder / "loss_curves.png", "GNN training / validation loss")
    return TrainingReport(
        artifacts=[(curves, "plots"), (forecast_csv, "forecasts"), (scores, "evaluation")],
        input_example=inputs.numpy(),  # one date: (n series, features + trailing correlations)
    )


STRESS_REGIME = "high"
PLOTTED_SERIES = ("SPX", "UST10Y", "EURUSD", "WTI")


def generator_report(name: str, result: GeneratorResult, daily: pd.DataFrame, instruments: pd.DataFrame,
                     folder: Path, n: int = 20_000) -> tuple[TrainingReport, pd.DataFrame]:
    """Quality in the stress regime against real returns, side by side with the FHS bootstrap; loss curves;
    generated-vs-real histograms. Returns the report and the quality table (metrics x [name, fhs])."""
    fhs = FHSBootstrap.fit(daily, train_end=result.config.train_end)
    quality = evaluate_generators(daily, instruments, {name: result.sampler, "fhs": fhs}, regime=STRESS_REGIME, n=n)
    real = scenario_rows(daily)
    stressed = real.returns[real.regime == REGIME_INDEX[STRESS_REGIME]]
    shown = [s for s in PLOTTED_SERIES if s in result.symbols]
    columns = [result.symbols.index(s) for s in shown]
    generated = {name: result.sampler.sample(n, STRESS_REGIME, seed=0)[:, columns],
                 "fhs": fhs.sample(n, STRESS_REGIME, seed=0)[:, columns]}
    table_csv = folder / "quality_stress_regime.csv"
    quality.to_csv(table_csv, index_label="metric")
    by_regime = correlation_by_regime(daily, {name: result.sampler, "fhs": fhs}, n=n)
    corr_csv = folder / "average_correlation_by_regime.csv"
    by_regime.to_csv(corr_csv, index_label="regime")
    for column in by_regime.columns:  # calm vs stress correlation, real and generated, as quality rows
        quality.loc[f"avg_corr_low_{column}"] = by_regime.at["low", column]
        quality.loc[f"avg_corr_high_{column}"] = by_regime.at["high", column]
    sampler = result.sampler
    k_vol = len(sampler.symbols) if sampler.vol is not None else None
    example = torch.cat([scenario_inputs(1, sampler.latent_dim, STRESS_REGIME, k_vol, seed=0),  # regime's vol
                         scenario_inputs(1, sampler.latent_dim, STRESS_REGIME, k_vol, seed=1,  # a given vol
                                         volatility=None if k_vol is None else np.full(k_vol, 0.01))]).numpy()
    report = TrainingReport(
        artifacts=[
            (loss_curves(result.history, folder / "loss_curves.png", f"{name.upper()} training losses"), "plots"),
            (distributions(stressed[:, columns], generated, shown, folder / "generated_vs_real_high_regime.png",
                           f"{name.upper()}: generated vs real returns, high-volatility regime"), "plots"),
            (table_csv, "evaluation"),
            (corr_csv, "evaluation"),
        ],
        input_example=example,
    )
    return report, quality
