"""Validation report of one model version across the crisis windows: the gate metrics the promotion policy
reads, a zone / p-value table beside the baselines, and a Markdown document with one PNG per window (VaR at
99% against the realized loss of the validation book, exceptions marked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from risk_platform.crisis_windows import CRISIS_WINDOWS  # noqa: E402
from risk_platform.validation import crisis  # noqa: E402
from risk_platform.validation.backtest import kupiec_pof  # noqa: E402
from risk_platform.validation.crisis import WindowValidation  # noqa: E402

GATE_ALPHA = 0.99
TABLE_COLUMNS = ["window", "method", "alpha", "n", "exceptions", "expected_exceptions", "zone", "kupiec_p",
                 "christoffersen_p", "conditional_coverage_p", "es_z2", "es_zone", "tick_loss"]


@dataclass(frozen=True)
class FamilySummary:
    """One family's validation across the windows: the gate metrics and the zone table with baselines."""

    family: str
    metrics: dict[str, float]
    table: pd.DataFrame  # TABLE_COLUMNS, the family's method and the baselines, every window and confidence
    statuses: dict[str, str]  # window -> status

    def summary(self) -> str:
        lines = [f"{self.family}: " + ", ".join(f"{k} {v:.4g}" for k, v in self.metrics.items())]
        lines += [f"  {w}: {s}" for w, s in self.statuses.items() if s != "evaluated"]
        return "\n".join(lines)


def zone_table(validations: list[WindowValidation]) -> pd.DataFrame:
    rows = [{"window": v.window, **b} for v in validations for b in v.backtests]
    if not rows:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    return pd.DataFrame(rows)[TABLE_COLUMNS]


def summarize_family(family: str, windows: list[WindowValidation], baselines: list[WindowValidation],
                     window_metrics: Callable[[list[WindowValidation]], dict[str, float]]) -> FamilySummary:
    """Gate metrics of ``family``: ``red_windows_99`` (windows in the red zone at 99%), ``kupiec_p_99`` (pooled
    over every evaluated window day), ``windows_evaluated``, plus the family's own figures across its evaluated
    windows (``window_metrics``, e.g. :func:`lstm_window_metrics`)."""
    own = zone_table(windows)
    table = pd.concat([own, zone_table(baselines)], ignore_index=True)
    at99 = own[np.isclose(own["alpha"], GATE_ALPHA)] if len(own) else own
    validated = {v.window for v in windows}
    windows = [*windows, *(crisis.not_evaluable(w, family, "not validated (no result for this window)")
                           for w in CRISIS_WINDOWS if w.key not in validated)]
    metrics: dict[str, float] = {"windows_evaluated": float(sum(v.status == "evaluated" for v in windows)),
                                 "windows_total": float(len(windows))}
    if len(at99):
        n, x = int(at99["n"].sum()), int(at99["exceptions"].sum())
        metrics.update(red_windows_99=float((at99["zone"] == "red").sum()), exceptions_99=float(x),
                       days_99=float(n), kupiec_p_99=kupiec_pof(x, n, GATE_ALPHA)[1])
    evaluated = [v for v in windows if v.status == "evaluated"]
    if evaluated:
        metrics.update(window_metrics(evaluated))
    order = {w.key: i for i, w in enumerate(CRISIS_WINDOWS)}
    statuses = {v.window: v.status for v in sorted(windows, key=lambda v: order.get(v.window, 99))}
    return FamilySummary(family, metrics, table, statuses)


def lstm_window_metrics(evaluated: list[WindowValidation]) -> dict[str, float]:
    """The LSTM's window-mean QLIKE of itself, EWMA and GARCH-t, and its ratios to both."""
    metrics = {name: float(np.mean([v.metrics[name] for v in evaluated]))
               for name in ("qlike_lstm", "qlike_ewma", "qlike_garch_t")}
    metrics["qlike_ratio_to_ewma"] = metrics["qlike_lstm"] / metrics["qlike_ewma"]
    metrics["qlike_ratio_to_garch_t"] = metrics["qlike_lstm"] / metrics["qlike_garch_t"]
    return metrics


def gnn_window_metrics(evaluated: list[WindowValidation]) -> dict[str, float]:
    """The GNN's Frobenius errors (itself, 63-day sample, EWMA) averaged over windows weighted by their test
    dates, and its ratio to the sample correlation's."""
    weights = [v.metrics.get("n_test", 1.0) for v in evaluated]
    metrics = {name: float(np.average([v.metrics[name] for v in evaluated], weights=weights))
               for name in ("frobenius_gnn", "frobenius_sample63", "frobenius_ewma")}
    metrics["ratio_gnn_to_sample63"] = metrics["frobenius_gnn"] / metrics["frobenius_sample63"]
    return metrics


def generator_window_metrics(evaluated: list[WindowValidation]) -> dict[str, float]:
    """A generator's window-mean quality (``crisis_mean_*``) over the windows with enough real days."""
    metrics = {}
    for name in ("window_var99_rel_err_equal_weight", "window_es975_rel_err_equal_weight",
                 "window_var99_rel_err_60_40", "window_es975_rel_err_60_40", "window_disc_score"):
        values = [v.metrics[name] for v in evaluated if name in v.metrics]
        if values:
            metrics[f"crisis_mean_{name.removeprefix('window_')}"] = float(np.mean(values))
    return metrics


def window_plot(window: WindowValidation, baselines: WindowValidation | None, path: Path) -> Path | None:
    """VaR 99% of the family and the baselines against the realized loss, exceptions of the family marked."""
    frames = [pd.DataFrame(v.series) for v in (window, baselines) if v is not None and v.series]
    if not frames:
        return None
    table = frames[0]
    for other in frames[1:]:
        table = table.merge(other.drop(columns="loss"), on="date", how="outer")
    table["date"] = pd.to_datetime(table["date"])
    table = table.sort_values("date")
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar(table["date"], table["loss"], color="0.7", label="realized loss (book)", width=1.0)
    methods = [c for c in table.columns if c.startswith("var_")]
    for column in methods:
        ax.plot(table["date"], table[column], label=column.removeprefix("var_"), linewidth=1.4)
    own = [c for c in methods if c.removeprefix("var_") not in ("hs", "ewma", "garch", "fhs")]
    if own:
        hits = table["loss"] > table[own[0]]
        ax.scatter(table.loc[hits, "date"], table.loc[hits, "loss"], color="red", zorder=3, s=18,
                   label=f"exception ({own[0].removeprefix('var_')})")
    ax.set(title=f"{window.family}: VaR 99% in {window.window}", ylabel="USD (loss positive)")
    ax.legend(fontsize=7, ncol=3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(out_dir: Path, family: str, model_label: str, summary: FamilySummary,
                 windows: list[WindowValidation], baselines: list[WindowValidation], gates: str) -> list[Path]:
    """``report.md`` plus one PNG per evaluated window in ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_window = {b.window: b for b in baselines}
    names = {w.key: f"{w.name} ({w.start:%Y-%m-%d}..{w.end:%Y-%m-%d})" for w in CRISIS_WINDOWS}
    files: list[Path] = []
    lines = [f"# Crisis-window validation: {model_label}", "",
             "Validation book: the risk book's first-order USD exposures held fixed; 1-day VaR/ES, losses "
             "positive. Each window's model was trained only on data before the window starts.", "",
             "## Gates", "", *[f"- {g}" for g in gates.split("; ")], "",
             "## Summary", "", "| metric | value |", "|---|---|",
             *[f"| {k} | {v:.4g} |" for k, v in summary.metrics.items()], "",
             "## Zones and p-values (model and baselines)", "", _markdown(summary.table), ""]
    for window in windows:
        lines += [f"## {names.get(window.window, window.window)}", "", f"Status: {window.status}."]
        if window.train_start:
            lines.append(f"Trained on {window.train_start}..{window.train_end} ({window.n_train} rows).")
        plot = window_plot(window, by_window.get(window.window), out_dir / f"{window.window}.png")
        if plot is not None:
            files.append(plot)
            lines += ["", f"![{window.window}]({plot.name})"]
        if window.metrics:
            lines += ["", "| metric | value |", "|---|---|",
                      *[f"| {k} | {v:.4g} |" for k, v in window.metrics.items()]]
        lines.append("")
    report = out_dir / "report.md"
    report.write_text("\n".join(lines))
    return [report, *files]


def _markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "(no backtest)"
    shown = table.copy()
    for column in ("kupiec_p", "christoffersen_p", "conditional_coverage_p", "es_z2", "tick_loss",
                   "expected_exceptions"):
        shown[column] = shown[column].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.3g}")
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *body])
