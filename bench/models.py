"""``python -m bench --models``: demo training time of each model and the baselines (target: all under 5
minutes), inference: LSTM forecast for all series (< 10 ms), GNN correlation for one date (< 20 ms), 100,000
scenarios from the GAN and the VAE (< 1 s each), and the out-of-sample and quality targets of those trainings:
pooled QLIKE 2020-2024 of the LSTM, GARCH-t and EWMA; the GNN's Frobenius error beside the sample and EWMA
correlations; per generator in the high-volatility regime, the discriminative score (target <= 0.15) and the
signed relative error of VaR99/ES97.5 of the equal-weight and 60/40 books against historical (target within 10%),
with whether it lies in the historical figure's bootstrap 95% interval.

Trains on the feature store the main job filled (``var/feature_store``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import pandas as pd
import torch

from risk_platform import paths
from risk_platform.data.loading import load_instruments
from risk_platform.features.store import FeatureStore
from risk_platform.models.baselines import garch_forecasts, series_returns
from risk_platform.models.generator_quality import Sampler, evaluate_generators
from risk_platform.models.generators import GANConfig, VAEConfig, train_gan, train_vae
from risk_platform.models.gnn import GNNConfig, forecaster_input, train_gnn_corr
from risk_platform.models.lstm import LSTMConfig, build_sequences, train_lstm_vol, with_split


def _best_ms(call, repeat: int = 20) -> float:
    """Best wall time of ``call()`` in milliseconds over ``repeat`` runs (after one warm-up)."""
    call()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 2)


def model_figures() -> dict[str, dict[str, float]]:
    """Train every model with its demo config on the feature store and time training and inference."""
    daily = FeatureStore(paths.state_dir() / "feature_store").read("daily_features")
    instruments = load_instruments(paths.BUNDLED_INSTRUMENTS)
    train_s: dict[str, float] = {}

    def timed(name: str, fit):
        started = time.perf_counter()
        out = fit()
        train_s[name] = round(time.perf_counter() - started, 1)
        return out

    end = pd.Timestamp(with_split(daily, LSTMConfig.demo()).train_end)  # the LSTM's evaluation split
    symbols = daily["symbol"].unique()
    timed("baselines_garch_t", lambda: [garch_forecasts(series_returns(daily, s), end) for s in symbols])
    lstm = timed("lstm_vol", lambda: train_lstm_vol(daily, LSTMConfig.demo()))
    gnn = timed("gnn_corr", lambda: train_gnn_corr(daily, instruments, GNNConfig.demo()))
    gan = timed("gan_scenarios", lambda: train_gan(daily, GANConfig.demo()))
    vae = timed("vae_scenarios", lambda: train_vae(daily, VAEConfig.demo()))
    train_s["total"] = round(sum(train_s.values()), 1)
    latest = torch.from_numpy(build_sequences(daily, lstm.config.seq_len, "latest", pd.Timestamp.max).x)
    _, gnn_inputs = forecaster_input(daily, gnn.symbols, gnn.config)
    forecaster = gnn.forecaster()
    with torch.no_grad():
        inference = {
            "lstm_all_series_ms": _best_ms(lambda: lstm.forecaster(latest)),
            "gnn_one_date_ms": _best_ms(lambda: forecaster(gnn_inputs)),
            "gan_100k_scenarios_ms": _best_ms(lambda: gan.sampler.sample(100_000, "high"), 5),
            "vae_100k_scenarios_ms": _best_ms(lambda: vae.sampler.sample(100_000, "high"), 5),
        }
    targets = {
        "lstm_vol": {k: round(lstm.metrics[k], 4) for k in ("qlike_lstm", "qlike_garch_t", "qlike_ewma")},
        "gnn_corr": {k: round(gnn.metrics[k], 3) for k in ("frobenius_gnn", "frobenius_sample63", "frobenius_ewma")},
        **generator_targets(daily, instruments, {"gan_scenarios": gan.sampler, "vae_scenarios": vae.sampler}),
    }
    return {"demo_training_s": train_s, "inference": inference, "targets": targets,
            "torch_threads": {"n": torch.get_num_threads()}}


def generator_targets(daily: pd.DataFrame, instruments: pd.DataFrame, samplers: Mapping[str, Sampler]
                      ) -> dict[str, dict[str, float]]:
    """Per sampler, the issue's targets in the high-volatility regime (the figures the model asset logs as
    ``stress_*``): discriminative score, signed relative errors of the two books' VaR99/ES97.5, and 1/0 for the
    generated figure inside the historical figure's bootstrap 95% interval."""
    table = evaluate_generators(daily, instruments, samplers, regime="high")
    out: dict[str, dict[str, float]] = {}
    for name in samplers:
        q = table[name]
        figures = {"disc_score": round(float(q["disc_score"]), 3)}
        for book in ("equal_weight", "60_40"):
            for key in ("var99", "es975"):
                figures[f"{key}_rel_err_{book}"] = round(float(q[f"{key}_gen_{book}"] / q[f"{key}_real_{book}"] - 1), 4)
                figures[f"{key}_in_ci_{book}"] = float(q[f"{key}_gen_in_ci_{book}"])
        out[name] = figures
    return out
