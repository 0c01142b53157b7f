"""What each family's training run registers: the model, its input example, params, metrics, the metadata
stored in its MLmodel file (what :mod:`risk_platform.models.inference` reads to build the model's inputs),
plots and tables as MLflow artifacts, and the tables shown beside the version. One ``*_registration`` function
per family; :mod:`risk_platform.families` names which is whose."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from risk_platform.data.roles import plotted_series
from risk_platform.features.market_stress import MARKET_FEATURES
from risk_platform.models.datasets import REGIME_INDEX
from risk_platform.models.generator_quality import (
    correlation_by_regime,
    equity_index_symbols,
    evaluate_generators,
    portfolio_notes,
)
from risk_platform.models.generators import FHSBootstrap, GeneratorResult, scenario_rows
from risk_platform.models.gnn import GNNResult, forecaster_input
from risk_platform.models.lstm import STEP_FEATURES, LSTMResult, build_sequences
from risk_platform.models.plots import distributions, forecast_vs_realized, loss_curves
from risk_platform.models.sampler_inputs import scenario_inputs
from risk_platform.render.charts import heatmap, quantile_quantile, write_png

EVALUATION_FOLDER = "evaluation"
EVALUATION_VARIANCES = "evaluation_variances.parquet"  # the LSTM evaluation fit's variances: walk-forward evidence


@dataclass(frozen=True, eq=False)
class Registration:
    """One training run's record for MLflow: ``model`` with an ``input_example`` of 2+ rows (or one date),
    ``params`` and ``metrics`` of the run, ``metadata`` (JSON-able, stored with the model: what a user needs
    to build its inputs), ``artifacts`` as (local path, artifact folder), and ``tables`` (name -> frame)
    shown beside the registered version."""

    model: nn.Module
    input_example: np.ndarray
    params: dict[str, object]
    metrics: dict[str, float]
    metadata: dict[str, object]
    artifacts: list[tuple[Path, str]]
    tables: dict[str, pd.DataFrame]


def lstm_registration(result: LSTMResult, daily: pd.DataFrame, instruments: pd.DataFrame, folder: Path,
                      series: str | None = None) -> Registration:
    """The forecaster (the production refit when ``result`` is one); loss curves, one series' out-of-sample
    forecast of the evaluation fit against realized and GARCH-t (``series``, default the first plotted series of
    :func:`risk_platform.data.roles.plotted_series`; none when not evaluated), the evaluation table, the evaluation
    fit's variance forecasts of every series at every origin (:data:`EVALUATION_VARIANCES`: from them the
    promotion forecasts the validation book after ``validation_train_end``, out of sample); params and
    metadata ``train_start``/``train_end`` (the forecaster's own training window) and the evaluation fit's window
    (:meth:`ValidationEvidence.params`); metadata ``symbols`` (the series trained on: any other is forecast
    zero-shot), ``seq_len``, ``features``, ``series_identity`` (false: the global model) and, for a model with
    market inputs, ``market_inputs`` (its roles and why one is absent: :meth:`MarketRoles.metadata`)."""
    cfg = result.config
    if series not in result.symbols:
        series = (plotted_series(instruments, result.symbols) or tuple(result.symbols))[0]
    latest = build_sequences(daily, cfg.seq_len, "latest", pd.Timestamp.max, market=result.market,
                             symbols=result.symbols)
    artifacts = [(loss_curves(result.history, folder / "loss_curves.png", "LSTM training losses"), "plots")]
    tables = {}
    if len(result.evaluation):
        rows = result.forecasts[result.forecasts["symbol"] == series]
        forecasts = {"LSTM": rows["lstm"].to_numpy(), "GARCH(1,1)-t": rows["garch_t"].to_numpy()}
        evaluation = folder / "evaluation_out_of_sample.csv"
        result.evaluation.to_csv(evaluation, index_label="series")
        artifacts += [(forecast_vs_realized(pd.DatetimeIndex(rows["origin"]), rows["realized"].to_numpy(), forecasts,
                                            folder / f"{series}_forecast_vs_realized.png",
                                            f"{series}: next-day volatility forecast, out of sample"), "plots"),
                      (evaluation, EVALUATION_FOLDER)]
    if len(result.evaluation_variances):
        variances = folder / EVALUATION_VARIANCES
        result.evaluation_variances.to_parquet(variances)
        artifacts.append((variances, EVALUATION_FOLDER))
        tables["out_of_sample_vs_baselines"] = result.evaluation.reset_index(names="series")[
            ["series", "qlike_lstm", "qlike_garch_t", "qlike_ewma", "mse_lstm", "mse_garch_t", "mse_ewma", "n"]]
    window = {"train_start": result.train_start, "train_end": result.train_end, **result.validation.params()}
    return Registration(
        model=result.forecaster,
        input_example=latest.x[:2],
        params={**cfg.__dict__, "symbols": ",".join(result.symbols), "n_train": result.n_train, **window},
        metrics=result.metrics,
        metadata={"symbols": result.symbols, "seq_len": cfg.seq_len,
                  "features": [*STEP_FEATURES, *(MARKET_FEATURES if result.market is not None else ())],
                  "series_identity": False, **window,
                  **({"market_inputs": result.market.metadata()} if result.market is not None else {})},
        artifacts=artifacts,
        tables=tables,
    )


def history_rows(history: dict[str, list[float]]) -> list[dict]:
    """``{"loss": [e0, e1, ...]}`` -> ``[{"epoch": 0, "loss": e0}, ...]`` for :func:`loss_curves`."""
    epochs = max((len(v) for v in history.values()), default=0)
    return [{"epoch": e, **{k: v[e] for k, v in history.items() if e < len(v)}} for e in range(epochs)]


def gnn_registration(result: GNNResult, daily: pd.DataFrame, folder: Path) -> Registration:
    """The correlation forecaster; loss curves, the latest forecast correlation matrix (CSV) and the
    out-of-sample scores (against the untrained network too: what training adds); metadata ``symbols`` (node
    order), ``corr_windows``, ``horizon``, ``n_lags``, ``ewma_window``, ``point_in_time_blend`` (the version blends
    point-in-time correlations only: :func:`~risk_platform.models.gnn.require_point_in_time`) and
    ``train_start``/``train_end`` (its first fitted date; the last day any training or validation target reads,
    also params)."""
    cfg = result.config
    as_of, inputs = forecaster_input(daily, result.symbols, result.config)
    with torch.no_grad():
        latest = pd.DataFrame(result.forecaster()(inputs).numpy().astype(float), index=list(result.symbols),
                              columns=list(result.symbols))
    forecast_csv = folder / f"forecast_correlation_{as_of:%Y-%m-%d}.csv"
    latest.to_csv(forecast_csv)
    matrix = write_png(heatmap(latest, f"GNN forecast correlation, next {cfg.horizon} days from {as_of:%Y-%m-%d}",
                               "correlation", -1.0, 1.0, cmap="RdBu_r", max_xticks=len(latest.columns)),
                       folder / "forecast_correlation.png")
    scores = folder / "evaluation_out_of_sample.csv"
    pd.Series(result.metrics, name="value").to_csv(scores, index_label="metric")
    curves = loss_curves(history_rows(result.history), folder / "loss_curves.png", "GNN training / validation loss")
    baselines = pd.DataFrame([{"method": m, "mean_frobenius_error": result.metrics[f"frobenius_{m}"]}
                              for m in ("gnn", "untrained", "sample63", "ewma")])
    return Registration(
        model=result.forecaster(),
        input_example=inputs.numpy(),  # one date: (n series, features + trailing correlations)
        params={**cfg.__dict__, "n_train": result.n_train, "train_start": str(result.train_start.date())},
        metrics=result.metrics,
        metadata={"symbols": list(result.symbols), "corr_windows": list(cfg.corr_windows), "horizon": cfg.horizon,
                  "n_lags": cfg.n_lags, "ewma_window": cfg.ewma_window, "point_in_time_blend": True,
                  "train_start": str(result.train_start.date()), "train_end": str(cfg.train_end)},
        artifacts=[(matrix, "plots"), (curves, "plots"), (forecast_csv, "forecasts"), (scores, "evaluation")],
        tables={"out_of_sample_vs_baselines": baselines},
    )


STRESS_REGIME = "high"


def undefined_metrics(undefined: list[str], symbols: list[str], instruments: pd.DataFrame) -> list[str]:
    """Why quality metrics that this universe leaves undefined (NaN) are not logged (one line, none if none)."""
    if not undefined:
        return []
    why = ""
    if any("tail_dep" in key for key in undefined):
        found = len(equity_index_symbols(symbols, instruments))
        why = f" (tail dependence needs two equity indices, found {found})"
    return [f"not evaluable on this universe, not logged: {', '.join(undefined)}{why}"]


def generator_registration(name: str, result: GeneratorResult, daily: pd.DataFrame, instruments: pd.DataFrame,
                           folder: Path, n: int = 20_000) -> Registration:
    """The scenario sampler; quality in the stress regime against real returns, side by side with the FHS
    bootstrap (metrics ``stress_*`` and ``fhs_stress_*``, the table ``stress_quality_vs_fhs``); loss curves;
    generated-vs-real histograms of one series per asset class (:func:`risk_platform.data.roles.plotted_series`);
    metadata ``symbols`` (output order), ``latent_dim``, ``vol_input``, ``n_factors`` (K > 0: the networks learned
    K factors of a factor model whose loadings and residual quantiles are buffers of the model; 0: the series
    themselves), the layout of the input and output and ``not_evaluated`` (why a quality book is missing on this
    universe, e.g. no equity/rates pair for the 60/40 book: its gate metrics are absent, so its promotion gates
    FAIL; also a table shown beside the version and in the training asset's metadata). ``name``: ``gan`` or
    ``vae`` (labels, the quality table's column). Params and metadata ``train_start``/``train_end``: the first
    and last training day (every day up to ``config.train_end``, all data when None)."""
    fhs = FHSBootstrap.fit(daily, train_end=result.config.train_end)
    quality = evaluate_generators(daily, instruments, {name: result.sampler, "fhs": fhs}, regime=STRESS_REGIME, n=n)
    real = scenario_rows(daily)
    stressed = real.returns[real.regime == REGIME_INDEX[STRESS_REGIME]]
    shown = list(plotted_series(instruments, result.symbols))
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
    metrics = {**result.metrics, **{f"stress_{k}": float(v) for k, v in quality[name].items()},
               **{f"fhs_stress_{k}": float(v) for k, v in quality["fhs"].items()}}
    undefined = sorted(k for k, v in metrics.items() if not np.isfinite(v))
    not_evaluated = portfolio_notes(result.symbols, instruments) + undefined_metrics(undefined, result.symbols,
                                                                                     instruments)
    metrics = {k: v for k, v in metrics.items() if k not in undefined}
    window = {"train_start": str(result.train_start.date()), "train_end": str(result.train_end.date())}
    return Registration(
        model=sampler,
        input_example=example,
        params={**result.config.__dict__, "n_train": result.n_train, **window,
                "not_evaluated": "; ".join(not_evaluated) or "none"},
        metrics=metrics,
        metadata={"symbols": result.symbols, "latent_dim": sampler.latent_dim, "vol_input": sampler.vol is not None,
                  "n_factors": sampler.n_factors, **window,
                  "not_evaluated": not_evaluated,
                  "input": "[noise (latent_dim), one-hot regime (low, normal, high)] then, when vol_input,"
                           " [log volatility per series (k), weight (1): 0 = the regime's volatility"
                           " state, 1 = the given volatility]",
                  "output": "one-day returns in original units (log returns; bp for yields)"},
        artifacts=[
            (write_png(quantile_quantile(stressed[:, columns], generated, shown,
                                         f"{name.upper()} and FHS against real quantiles, high-volatility regime"
                                         " (0.1%..99.9%, own units)"), folder / "qq_generated_vs_real.png"), "plots"),
            (loss_curves(result.history, folder / "loss_curves.png", f"{name.upper()} training losses"), "plots"),
            (distributions(stressed[:, columns], generated, shown, folder / "generated_vs_real_high_regime.png",
                           f"{name.upper()}: generated vs real returns, high-volatility regime"), "plots"),
            (table_csv, "evaluation"),
            (corr_csv, "evaluation"),
        ],
        tables={"stress_quality_vs_fhs": quality.reset_index(names="metric"),
                **({"not_evaluated": pd.DataFrame({"reason": not_evaluated})} if not_evaluated else {})},
    )
