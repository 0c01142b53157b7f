"""Validation report of one model version: the gate metrics the promotion policy reads
(:mod:`risk_platform.models.governance`), a zone / p-value table beside the baselines, the reviewer's comparison
of the model against the baselines on the same days (:func:`~risk_platform.validation.significance.compare_methods`:
exceptions, zone, Kupiec and Christoffersen asymptotic and bootstrap, tick loss, 90% model confidence set, DM
against the best baseline) in every crisis window and over the walk-forward out-of-sample period, and a Markdown
document with one PNG per window (VaR at 99% against the realized loss of the validation book, exceptions marked).

Gate metrics (the names the report's summary table shows and the gates read):

* ``oos_kupiec_p_boot_<a>``, ``oos_christoffersen_p_boot_<a>`` (``<a>`` 99, 975), asymptotic ``oos_kupiec_p_<a>``
  and ``oos_christoffersen_p_<a>`` beside them, ``oos_days_<a>``, ``oos_exceptions_<a>``: the model's forecasts
  over the whole walk-forward out-of-sample period (Christoffersen: the independence test);
* ``crisis_excess_exceptions_99``: the most, over the crisis windows, of the model's 99% exceptions minus the
  best baseline's on the same days (best: the lowest mean tick loss in that window); ``crisis_dm_p_worse_99``:
  the one-sided Diebold-Mariano p-value of "model's tick loss worse than the best baseline's" on the crisis days
  pooled (each window's days against that window's best baseline); ``windows_compared``. Pooled, not per window:
  a short window without an exception (SVB 2023: 18 days, 0.18 expected at 99%) carries no tail information, its
  daily tick-loss differential is then just 1% of the VaR difference, nearly constant, and a DM test over 18 such
  days calls any more conservative VaR "significantly worse" (in the first demo of this policy every method but
  EWMA, the least conservative, failed it there, FHS with p = 0); over the pooled crisis days the stressed
  windows' exceptions weigh as they should;
* ``has_incumbent`` (1 when a ``current`` version other than the candidate exists), then
  ``incumbent_excess_exceptions_99`` and ``incumbent_dm_p_worse_99``: the candidate against the incumbent's
  stored window forecasts on the days both scored, pooled over the windows;
* ``red_windows_99``, ``kupiec_p_99`` (pooled crisis days), ``windows_evaluated``: shown, no longer gated.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from risk_platform.crisis_windows import CRISIS_WINDOWS  # noqa: E402
from risk_platform.errors import InputError  # noqa: E402
from risk_platform.io import atomic_write_text  # noqa: E402
from risk_platform.models.mlflow_ui import REPORT_HTML_FILE, html_table, markdown_table  # noqa: E402
from risk_platform.render.charts import var_against_pnl, write_png  # noqa: E402
from risk_platform.validation import crisis  # noqa: E402
from risk_platform.validation.backtest import kupiec_pof, tick_losses  # noqa: E402
from risk_platform.validation.crisis import WindowValidation  # noqa: E402
from risk_platform.validation.significance import Comparison, compare_methods, diebold_mariano, same_days  # noqa: E402
from risk_platform.validation.var_forecasts import VarForecast  # noqa: E402

if TYPE_CHECKING:  # the governance module imports the registry and with it MLflow: not for reading a report
    from risk_platform.models.governance import GateResult

GATE_ALPHA = 0.99
COVERAGE_ALPHAS = (0.99, 0.975)  # the walk-forward coverage gates
WALK_FORWARD = "walk_forward"
WINDOWS_FILE = "windows.json"  # the comparison table's period name for the whole out-of-sample period
TABLE_COLUMNS = ["window", "method", "alpha", "n", "exceptions", "expected_exceptions", "zone", "kupiec_p",
                 "christoffersen_p", "conditional_coverage_p", "es_z2", "es_zone", "tick_loss"]


@dataclass(frozen=True)
class FamilySummary:
    """One family's validation across the windows: the gate metrics and the zone table with baselines."""

    family: str
    metrics: dict[str, float]
    table: pd.DataFrame  # TABLE_COLUMNS, the family's method and the baselines, every window and confidence
    statuses: dict[str, str]  # window -> status
    comparisons: pd.DataFrame  # period (window or walk_forward), alpha, best, then compare_methods' rows
    method: str  # the judged method (its exceptions are marked on the plots)

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
                     window_metrics: Callable[[list[WindowValidation]], dict[str, float]],
                     walk_forward: Sequence[VarForecast] = (),
                     incumbent: list[WindowValidation] | None = None, *, method: str) -> FamilySummary:
    """Gate metrics of ``family``'s judged ``method`` (``ModelFamily.judged_method``; module docstring): the
    crisis windows against the best baseline on the same days, ``walk_forward`` (the model's, and optionally the
    baselines', forecasts over the whole out-of-sample period at 99% and 97.5%), the ``incumbent``'s window
    validations (None: no incumbent), the pooled crisis figures, plus the family's own figures across its
    evaluated windows (``window_metrics``)."""
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
    comparisons = window_comparisons(evaluated, baselines)
    if walk_forward:
        comparisons |= {(WALK_FORWARD, a): compare_methods([f for f in walk_forward if f.alpha == a])
                        for a in sorted({f.alpha for f in walk_forward}, reverse=True)}
    metrics.update(benchmark_metrics(comparisons, method))
    metrics.update(incumbent_metrics(evaluated, incumbent, method))
    if evaluated:
        metrics.update(window_metrics(evaluated))
    order = {w.key: i for i, w in enumerate(CRISIS_WINDOWS)}
    statuses = {v.window: v.status for v in sorted(windows, key=lambda v: order.get(v.window, 99))}
    return FamilySummary(family, metrics, table, statuses, comparison_frame(comparisons), method)


def alpha_suffix(alpha: float) -> str:
    """A confidence as metric names write it: 0.99 -> ``99``, 0.975 -> ``975``."""
    return f"{alpha * 100:g}".replace(".", "")


def window_forecasts(validation: WindowValidation) -> list[VarForecast]:
    """The 99% VaR forecasts a window validation keeps (its ``series``), one per method, on the days each has;
    no ES is kept there (NaN)."""
    frame = pd.DataFrame(validation.series)
    if frame.empty:
        return []
    dates = pd.DatetimeIndex(pd.to_datetime(frame["date"]))
    losses = frame["loss"].to_numpy(dtype=float)
    out = []
    for column in (c for c in frame.columns if c.startswith("var_")):
        var = frame[column].to_numpy(dtype=float)
        keep = np.isfinite(var) & np.isfinite(losses)
        out.append(VarForecast(column.removeprefix("var_"), GATE_ALPHA, dates[keep], losses[keep], var[keep],
                               np.full(int(keep.sum()), np.nan)))
    return out


def window_comparisons(evaluated: list[WindowValidation], baselines: list[WindowValidation]
                       ) -> dict[tuple[str, float], Comparison]:
    """(window, 0.99) -> the family's method against the baselines on the days both scored in that window."""
    by_window = {b.window: b for b in baselines if b.status == "evaluated"}
    out = {}
    for v in (v for v in evaluated if v.window in by_window):
        forecasts = [f for f in window_forecasts(v) + window_forecasts(by_window[v.window]) if len(f.dates)]
        if len({f.method for f in forecasts}) > 1:
            out[(v.window, GATE_ALPHA)] = compare_methods(forecasts)
    return out


def benchmark_metrics(comparisons: dict[tuple[str, float], Comparison], method: str | None) -> dict[str, float]:
    """The crisis-window benchmark figures and the walk-forward coverage figures of ``method`` (module
    docstring); a figure whose comparison is missing is left out (its gate then fails as missing)."""
    crisis_rows = [(c.row(method), c.row(c.best_baseline)) for (period, _), c in comparisons.items()
                   if period != WALK_FORWARD and method is not None and c.best_baseline is not None]
    metrics: dict[str, float] = {"windows_compared": float(len(crisis_rows))}
    if crisis_rows:
        crisis = [c for (period, _), c in comparisons.items() if period != WALK_FORWARD and c.best_baseline is not None]
        metrics["crisis_excess_exceptions_99"] = float(max(r["exceptions"] - b["exceptions"] for r, b in crisis_rows))
        metrics["crisis_dm_p_worse_99"] = diebold_mariano(
            np.concatenate([c.ticks[method].to_numpy() for c in crisis]),
            np.concatenate([c.ticks[c.best_baseline].to_numpy() for c in crisis])).p_worse
    for (period, alpha), comparison in comparisons.items():
        if period != WALK_FORWARD or method is None:
            continue
        row, a = comparison.row(method), alpha_suffix(alpha)
        metrics.update({f"oos_days_{a}": float(row["n"]), f"oos_exceptions_{a}": float(row["exceptions"]),
                        f"oos_kupiec_p_{a}": row["kupiec_p"], f"oos_kupiec_p_boot_{a}": row["kupiec_p_boot"],
                        f"oos_christoffersen_p_{a}": row["christoffersen_p"],
                        f"oos_christoffersen_p_boot_{a}": row["christoffersen_p_boot"]})
    return metrics


def incumbent_metrics(evaluated: list[WindowValidation], incumbent: list[WindowValidation] | None,
                      method: str | None) -> dict[str, float]:
    """The candidate's 99% VaR against the incumbent's on the crisis days both scored (module docstring):
    ``has_incumbent`` 0 without one; the comparison figures left out when no day is common."""
    if incumbent is None:
        return {"has_incumbent": 0.0}
    theirs = {v.window: v for v in incumbent if v.status == "evaluated"}
    candidate_ticks, incumbent_ticks, excess, days = [], [], 0, 0
    for v in evaluated:
        mine = [f for f in window_forecasts(v) if f.method == method]
        other = [f for f in window_forecasts(theirs[v.window]) if f.method == method] if v.window in theirs else []
        if not (mine and other) or len(mine[0].dates.intersection(other[0].dates)) < 2:
            continue
        a, b = same_days([mine[0], replace(other[0], method="incumbent")])
        candidate_ticks.append(tick_losses(a.losses, a.var, GATE_ALPHA))
        incumbent_ticks.append(tick_losses(b.losses, b.var, GATE_ALPHA))
        excess += int(np.sum(a.losses > a.var)) - int(np.sum(b.losses > b.var))
        days += len(a.dates)
    if not days:
        return {"has_incumbent": 1.0, "incumbent_days": 0.0}
    dm = diebold_mariano(np.concatenate(candidate_ticks), np.concatenate(incumbent_ticks))
    return {"has_incumbent": 1.0, "incumbent_days": float(days), "incumbent_excess_exceptions_99": float(excess),
            "incumbent_dm_p_worse_99": dm.p_worse}


def comparison_frame(comparisons: dict[tuple[str, float], Comparison]) -> pd.DataFrame:
    """One row per period, confidence and method: the period, the best baseline, then the comparison's row."""
    rows = [{"period": period, "alpha": alpha, "best_baseline": c.best_baseline, **row}
            for (period, alpha), c in comparisons.items() for row in c.rows]
    return pd.DataFrame(rows)


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


def window_plot(window: WindowValidation, baselines: WindowValidation | None, path: Path, method: str
                ) -> Path | None:
    """VaR 99% of the family and the baselines against the realized loss, exceptions of ``method`` marked."""
    frames = [pd.DataFrame(v.series) for v in (window, baselines) if v is not None and v.series]
    if not frames:
        return None
    table = frames[0]
    for other in frames[1:]:
        table = table.merge(other.drop(columns="loss"), on="date", how="outer")
    table["date"] = pd.to_datetime(table["date"])
    table = table.sort_values("date")
    var = {c.removeprefix("var_"): table[c].to_numpy(dtype=float) for c in table.columns if c.startswith("var_")}
    marked = method if method in var else next(iter(var))
    title = f"{window.family}: VaR 99% 1-day in {window.window} (book, losses positive)"
    return write_png(var_against_pnl(pd.DatetimeIndex(table["date"]), table["loss"].to_numpy(dtype=float), var,
                                     marked, title), path)


INTRO = ("Validation book: the risk book's first-order USD exposures held fixed; 1-day VaR/ES, losses positive."
         " Each window's model was trained only on data before the window starts.")
COMPARISON_NOTE = ("Per crisis window at 99% and over the walk-forward out-of-sample period at 99% and 97.5%:"
                   " p-values asymptotic and bootstrap (Monte Carlo under the null), mean tick loss, membership of"
                   " the 90% model confidence set, one-sided Diebold-Mariano p of 'worse than the best baseline' on"
                   " tick loss.")
HTML_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}table{border-collapse:"
              "collapse;font-size:12px;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;"
              "vertical-align:top}"
              "td.fail,td.red{background:#f8d0d0}td.pass,td.green{background:#d4f0d4}td.yellow{background:#fff3c4}"
              "img{max-width:100%}")
Block = tuple[str, "str | Path | pd.DataFrame"]  # ("h1" | "h2" | "p", text), ("table", frame), ("img", png)


def _metric_table(metrics: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"metric": list(metrics), "value": [float(v) for v in metrics.values()]})


def report_blocks(model_label: str, summary: FamilySummary, windows: list[WindowValidation],
                  plots: dict[str, Path], gates: GateResult) -> list[Block]:
    """The validation report as a list of blocks (headings, paragraphs, tables, window plots), rendered to
    Markdown (:func:`markdown_text`) and to self-contained HTML (:func:`html_text`)."""
    names = {w.key: f"{w.name} ({w.start:%Y-%m-%d}..{w.end:%Y-%m-%d})" for w in CRISIS_WINDOWS}
    blocks: list[Block] = [
        ("h1", f"Crisis-window validation: {model_label}"), ("p", INTRO),
        ("h2", f"Gates: {'passed' if gates.passed else 'refused'}"), ("table", gates.table()),
        ("h2", "Summary"), ("table", _metric_table(summary.metrics)),
        ("h2", "Zones and p-values (model and baselines)"), ("table", summary.table),
        ("h2", "The model against the baselines on the same days"), ("p", COMPARISON_NOTE),
        ("table", summary.comparisons)]
    for window in windows:
        trained = (f" Trained on {window.train_start}..{window.train_end} ({window.n_train} rows)."
                   if window.train_start else "")
        blocks += [("h2", names.get(window.window, window.window)), ("p", f"Status: {window.status}.{trained}")]
        if window.window in plots:
            blocks.append(("img", plots[window.window]))
        if window.metrics:
            blocks.append(("table", _metric_table(window.metrics)))
    return blocks


def markdown_text(blocks: list[Block]) -> str:
    """The blocks as Markdown (plots linked by file name, beside the report)."""
    render = {"h1": lambda b: f"# {b}", "h2": lambda b: f"## {b}", "p": str, "table": markdown_table,
              "img": lambda b: f"![{Path(b).stem}]({Path(b).name})"}
    return "\n\n".join(render[kind](body) for kind, body in blocks) + "\n"


def html_text(blocks: list[Block], title: str) -> str:
    """The blocks as one self-contained HTML page: tables as HTML with figures at 4 significant figures, plots
    inline as base64 PNG ``<img>`` tags (MLflow shows an ``.html`` artifact as a page)."""
    def image(path: Path) -> str:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'

    render = {"h1": lambda b: f"<h1>{html.escape(b)}</h1>", "h2": lambda b: f"<h2>{html.escape(b)}</h2>",
              "p": lambda b: f"<p>{html.escape(b)}</p>", "table": html_table, "img": image}
    body = "\n".join(render[kind](content) for kind, content in blocks)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{HTML_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def write_report(out_dir: Path, family: str, model_label: str, summary: FamilySummary,
                 windows: list[WindowValidation], baselines: list[WindowValidation], gates: GateResult
                 ) -> list[Path]:
    """In ``out_dir``: ``report.md`` with one PNG per evaluated window beside it, the same report as one
    self-contained ``validation_report.html`` (plots inline), and the window forecasts (:data:`WINDOWS_FILE`);
    returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_window = {b.window: b for b in baselines}
    plots = {w.window: plot for w in windows if (plot := window_plot(
        w, by_window.get(w.window), out_dir / f"{w.window}.png", summary.method)) is not None}
    blocks = report_blocks(model_label, summary, windows, plots, gates)
    report = atomic_write_text(out_dir / "report.md", markdown_text(blocks))
    page = atomic_write_text(out_dir / REPORT_HTML_FILE, html_text(blocks, f"{family}: {model_label}"))
    stored = out_dir / WINDOWS_FILE  # the window forecasts a later promotion compares its challenger against
    atomic_write_text(stored, json.dumps([w.to_dict() for w in windows]))
    return [report, page, stored, *plots.values()]


def read_windows(path: Path) -> list[WindowValidation]:
    """The window validations :func:`write_report` stored (a version's, read back as the incumbent's)."""
    try:
        return [WindowValidation.from_dict(d) for d in json.loads(Path(path).read_text())]
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: cannot read stored window validations ({exc.__class__.__name__})") from None
