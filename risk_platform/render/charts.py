"""Small, legible PNG charts (bytes) and their inline Markdown form for the Dagster UI.

Every chart states its units and sign convention in its title or axis: losses positive, USD, 1-day unless the
caller's title says otherwise. Figures are about 7 x 3 inches at 90 dpi (tens of kB), so an asset's metadata
stays small enough for the UI.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from risk_platform.render.formatting import money  # noqa: E402

DPI = 90
STATUS_COLOURS = {"ok": "#2e7d32", "warn": "#f9a825", "breach": "#c62828", "not_evaluated": "#9e9e9e"}
LOSS_COLOUR, VAR_COLOUR, EXCEPTION_COLOUR = "#90a4ae", "#1565c0", "#c62828"


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (closed afterwards)."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """``![alt](data:image/png;base64,...)``: renders inline in Dagster's Markdown metadata and in HTML."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def _money_axis(axis, currency: str) -> None:
    axis.set_major_formatter(FuncFormatter(lambda v, _: money(v, currency)))


def _money_over_time(fig, ax, title: str, currency: str, legend_columns: int) -> bytes:
    """A time chart in money finished: the zero line, the money axis, title, legend, dates; as PNG bytes."""
    ax.axhline(0.0, color="0.3", lw=0.5)
    _money_axis(ax.yaxis, currency)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="upper left", ncols=legend_columns)
    ax.tick_params(labelsize=7)
    fig.autofmt_xdate()
    return png_bytes(fig)


def var_against_pnl(dates: pd.DatetimeIndex, losses: np.ndarray, var: dict[str, np.ndarray], marked: str, title: str,
                    currency: str = "USD") -> bytes:
    """Daily losses (bars, losses positive) against each method's VaR forecast for the day (lines); the days whose
    loss exceeded the ``marked`` method's VaR in red."""
    losses = np.asarray(losses, dtype=float)
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    ax.bar(dates, losses, width=1.0, color=LOSS_COLOUR, label="loss (gains below 0)")
    for name, values in var.items():
        ax.plot(dates, np.asarray(values, dtype=float), lw=1.4 if name == marked else 0.9,
                color=VAR_COLOUR if name == marked else None, label=f"VaR {name}")
    exceptions = losses > np.asarray(var[marked], dtype=float)
    ax.scatter(dates[exceptions], losses[exceptions], color=EXCEPTION_COLOUR, s=18, zorder=3,
               label=f"exceptions of {marked} ({int(exceptions.sum())})")
    return _money_over_time(fig, ax, title, currency, legend_columns=3)


def live_history(times: pd.DatetimeIndex, lines: dict[str, np.ndarray], limit: np.ndarray | None, title: str,
                 currency: str = "USD") -> bytes:
    """The live monitor's recent figures against time (one line each, losses positive), the VaR limit dashed."""
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    for name, values in lines.items():
        ax.plot(times, np.asarray(values, dtype=float), lw=1.2, label=name)
    if limit is not None and np.isfinite(np.asarray(limit, dtype=float)).any():
        ax.plot(times, np.asarray(limit, dtype=float), ls="--", color=EXCEPTION_COLOUR, lw=1.0, label="VaR 99 limit")
    return _money_over_time(fig, ax, title, currency, legend_columns=4)


def ranked_bars(values: pd.Series, title: str, xlabel: str, currency: str | None = None,
                colours: Sequence[str] | None = None) -> bytes:
    """Horizontal bars in the order given (first on top): e.g. stress losses worst first, contributions."""
    fig, ax = plt.subplots(figsize=(7.0, 0.9 + 0.28 * max(1, len(values))))
    positions = np.arange(len(values))[::-1]
    ax.barh(positions, values.to_numpy(dtype=float), color=list(colours) if colours else VAR_COLOUR)
    ax.set_yticks(positions, [str(i) for i in values.index], fontsize=7)
    ax.axvline(0.0, color="0.3", lw=0.5)
    if currency:
        _money_axis(ax.xaxis, currency)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    return png_bytes(fig)


def utilisation_bars(limits: pd.DataFrame, title: str) -> bytes:
    """One bar per limit: its figure as % of the breach threshold (``used_pct``), coloured by ``status``, with the
    warn level (``warn_pct``, a tick) and the breach level (100%, a red line); ``limits`` indexed by limit name."""
    fig, ax = plt.subplots(figsize=(7.0, 0.9 + 0.3 * max(1, len(limits))))
    positions = np.arange(len(limits))[::-1]
    colours = [STATUS_COLOURS.get(s, STATUS_COLOURS["not_evaluated"]) for s in limits["status"]]
    ax.barh(positions, limits["used_pct"].fillna(0.0).to_numpy(dtype=float), color=colours)
    warn = limits["warn_pct"].to_numpy(dtype=float)
    ax.scatter(warn, positions, marker="|", s=220, color="#f57f17", zorder=3, label="warn")
    ax.axvline(100.0, color=STATUS_COLOURS["breach"], lw=1.2, label="breach (100%)")
    ax.set_yticks(positions, list(limits.index), fontsize=7)
    ax.set_xlabel("% of breach threshold", fontsize=8)
    ax.set_xlim(0, max(110.0, float(np.nanmax(limits["used_pct"].to_numpy(dtype=float), initial=0.0)) * 1.1))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.tick_params(axis="x", labelsize=7)
    return png_bytes(fig)


def heatmap(frame: pd.DataFrame, title: str, colour_label: str, vmin: float, vmax: float, cmap: str = "Reds",
            marked_rows: Sequence[str] = (), max_xticks: int = 12) -> bytes:
    """A rows x columns map of ``frame`` (NaN blank), rows in ``marked_rows`` labelled in red with a mark."""
    rows, cols = frame.shape
    fig, ax = plt.subplots(figsize=(7.5, 1.0 + 0.17 * max(4, rows)))
    image = ax.imshow(frame.to_numpy(dtype=float), aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
    ax.set_yticks(range(rows), [f"{r} (rejected)" if r in marked_rows else str(r) for r in frame.index], fontsize=6)
    for label in ax.get_yticklabels():
        if label.get_text().endswith("(rejected)"):
            label.set_color(EXCEPTION_COLOUR)
    step = max(1, cols // max_xticks)
    ax.set_xticks(range(0, cols, step), [str(c) for c in frame.columns[::step]], fontsize=6, rotation=45,
                  ha="right")
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    bar.set_label(colour_label, fontsize=7)
    bar.ax.tick_params(labelsize=6)
    ax.set_title(title, fontsize=9)
    return png_bytes(fig)


def quantile_quantile(real: np.ndarray, generated: dict[str, np.ndarray], labels: Sequence[str], title: str) -> bytes:
    """One panel per column (``labels``): generated against real quantiles from 0.1% to 99.9% (the tails
    included) for each generator, the diagonal a perfect match; columns in their own units."""
    levels = np.concatenate([[0.001, 0.005], np.linspace(0.01, 0.99, 50), [0.995, 0.999]])
    k = max(1, len(labels))
    fig, axes = plt.subplots(1, k, figsize=(min(3.0 * k, 12.0), 3.2), squeeze=False)
    for j, (ax, label) in enumerate(zip(axes[0], labels, strict=False)):
        real_q = np.quantile(np.asarray(real[:, j], dtype=float), levels)
        for name, values in generated.items():
            ax.scatter(real_q, np.quantile(np.asarray(values[:, j], dtype=float), levels), s=8, label=name)
        low, high = float(real_q.min()), float(real_q.max())
        ax.plot([low, high], [low, high], color="0.4", lw=0.8, ls="--")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("real quantile", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0][0].set_ylabel("generated quantile", fontsize=7)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return png_bytes(fig)


def write_png(png: bytes, path: Path) -> Path:
    """``png`` written to ``path`` (an MLflow artifact); returns the path."""
    path.write_bytes(png)
    return path
