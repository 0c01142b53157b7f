"""What each training run logs besides its metrics: plots and tables (MLflow artifacts) and the model's
input example."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from risk_platform.models.baselines import garch_forecasts, series_returns
from risk_platform.models.lstm import LSTMResult, build_sequences, predict
from risk_platform.models.plots import forecast_vs_realized, loss_curves


@dataclass(frozen=True)
class TrainingReport:
    """Files to log as (local path, artifact folder) and an input example of 2+ rows."""

    artifacts: list[tuple[Path, str]]
    input_example: np.ndarray


def lstm_report(result: LSTMResult, daily: pd.DataFrame, folder: Path, series: str = "SPX") -> TrainingReport:
    """Loss curves, one series' out-of-sample forecast against realized and GARCH-t, the evaluation table."""
    cfg = result.config
    train_end = pd.Timestamp(cfg.train_end)
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
