"""PNG plots logged as MLflow artifacts: loss curves, forecasts against realized values."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def loss_curves(history: list[dict], path: Path, title: str) -> Path:
    """One line per logged loss against the epoch."""
    frame = pd.DataFrame(history)
    fig, ax = plt.subplots(figsize=(7, 4))
    for column in frame.columns.drop("epoch", errors="ignore"):
        ax.plot(frame.get("epoch", frame.index), frame[column], marker="o", label=column)
    ax.set(title=title, xlabel="epoch", ylabel="loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def forecast_vs_realized(dates: pd.DatetimeIndex, realized: np.ndarray, forecasts: dict[str, np.ndarray],
                         path: Path, title: str) -> Path:
    """Forecast volatility (square root of variance) of several models against |realized return|."""
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(dates, np.sqrt(realized), color="0.75", lw=0.6, label="|realized return|")
    for name, values in forecasts.items():
        ax.plot(dates, np.sqrt(values), lw=1.0, label=name)
    ax.set(title=title, ylabel="daily volatility")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def distributions(real: np.ndarray, generated: dict[str, np.ndarray], symbols: list[str], path: Path,
                  title: str) -> Path:
    """Histograms of real and generated returns for a few series (a figure saying so when there is none)."""
    fig, axes = plt.subplots(1, max(1, len(symbols)), figsize=(4 * max(1, len(symbols)), 3.5))
    axes = np.atleast_1d(axes)
    if not symbols:
        axes[0].text(0.5, 0.5, "no price-type series to plot", ha="center", va="center")
    for ax, (j, symbol) in zip(axes[:len(symbols)], enumerate(symbols), strict=True):
        bins = np.linspace(np.quantile(real[:, j], 0.001), np.quantile(real[:, j], 0.999), 60)
        ax.hist(real[:, j], bins=bins, density=True, alpha=0.5, label="real")
        for name, values in generated.items():
            ax.hist(values[:, j], bins=bins, density=True, histtype="step", lw=1.2, label=name)
        ax.set_title(symbol)
    if symbols:
        axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
