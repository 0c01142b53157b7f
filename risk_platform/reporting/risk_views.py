"""What the risk assets show a person: the one-line headline with units, charts (VaR against P&L with its
exceptions, component VaR by asset class, stress losses ranked, limit utilisation) and readable tables.
Losses positive, USD, 1-day horizon throughout."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from risk_platform.models.mlflow_ui import dagster_run_url, mlflow_run_url
from risk_platform.render.charts import (
    STATUS_COLOURS,
    markdown_image,
    ranked_bars,
    utilisation_bars,
    var_against_pnl,
)
from risk_platform.render.formatting import money, percent, share
from risk_platform.validation.backtest import traffic_light
from risk_platform.validation.var_forecasts import VarForecast

NOT_A_PNL = ("counterfactual_correlation",)  # stress kinds whose figure is a VaR, shown apart from the P&Ls
HEADLINE_LIMIT = "var_99_pct_nav"  # the limit whose utilisation the headline quotes (when the limits file has it)


def bound_method(bound_by: str) -> str:
    """The method named by a ``bound_by`` entry (``'vine_copula: vine copula (26 factors...)'`` -> ``'vine
    copula'``)."""
    return bound_by.split(":", 1)[0].strip().replace("_", " ") if bound_by else "unknown"


def var_headline(var_99: float, nav: float, bound_by: str, currency: str = "USD",
                 limit_utilisation: float | None = None) -> str:
    """``'VaR 99% 1-day USD 6.19m, 1.24% of NAV, 62% of limit, bound by vine copula'`` (the limit part only when
    ``limit_utilisation``, a fraction of the breach threshold, is known)."""
    parts = [f"VaR 99% 1-day {money(var_99, currency)}",
             f"{percent(100.0 * var_99 / nav) if nav else 'n/a'} of NAV"]
    if limit_utilisation is not None and math.isfinite(limit_utilisation):
        parts.append(f"{share(limit_utilisation)} of limit")
    return ", ".join(parts) + f", bound by {bound_method(bound_by)}"


def report_headline(report: Mapping, limit_utilisation: float | None = None) -> str:
    """:func:`var_headline` of a risk report (:meth:`PortfolioRisk.to_dict` or the object's fields)."""
    return var_headline(float(report["var_99"]), float(report["nav"]), report.get("bound_by", {}).get("var_99", ""),
                        report.get("currency", "USD"), limit_utilisation)


def var_against_pnl_chart(forecast: VarForecast, currency: str = "USD") -> str:
    """The Basel backtest picture as inline Markdown: the last days' losses against the VaR, exceptions and zone."""
    exceptions = int((forecast.losses > forecast.var).sum())
    n = len(forecast.dates)
    zone = traffic_light(exceptions, n, forecast.alpha)
    title = (f"VaR {100 * forecast.alpha:g}% 1-day ({forecast.method.upper()}, current exposures) vs P&L, last"
             f" {n} days: {exceptions} exceptions ({n * (1 - forecast.alpha):.1f} expected), Basel {zone}")
    png = var_against_pnl(forecast.dates, forecast.losses, {forecast.method: forecast.var}, forecast.method, title,
                          currency)
    return f"**{title}** (losses positive, {currency})\n\n{markdown_image(png, 'VaR against P&L')}"


def component_var_chart(positions: Sequence[Mapping], currency: str = "USD") -> str:
    """Euler contributions to the EWMA delta-normal VaR 99% summed by asset class, largest first."""
    frame = pd.DataFrame(list(positions))
    by_class = (frame.groupby("asset_class")["param_var_99_contribution"].sum().sort_values(ascending=False))
    title = f"Component VaR 99% 1-day by asset class (EWMA delta-normal Euler, {currency}; sums to its VaR)"
    png = ranked_bars(by_class, title, f"contribution ({currency}, losses positive)", currency)
    return f"**{title}**\n\n{markdown_image(png, 'component VaR by asset class')}"


def stress_frame(stress: Mapping[str, Mapping]) -> pd.DataFrame:
    """The stress scenarios, worst loss first: ``scenario, kind, loss_usd`` (losses positive) and
    ``loss_pct_nav``; the counterfactual correlation, a VaR rather than a scenario's P&L, is left out."""
    rows = [{"scenario": name, "kind": r.get("kind", ""), "loss_usd": -float(r["pnl"]),
             "loss_pct_nav": -float(r["pnl_pct_nav"])}
            for name, r in stress.items() if r.get("kind") not in NOT_A_PNL and isinstance(r.get("pnl"), int | float)]
    frame = pd.DataFrame(rows, columns=["scenario", "kind", "loss_usd", "loss_pct_nav"])
    return frame.sort_values("loss_usd", ascending=False, kind="stable").reset_index(drop=True)


def stress_chart(stress: Mapping[str, Mapping], currency: str = "USD") -> str:
    """The stress losses ranked worst first (red a loss, green a gain)."""
    frame = stress_frame(stress)
    losses = frame.set_index("scenario")["loss_usd"]
    colours = [STATUS_COLOURS["breach"] if v > 0 else STATUS_COLOURS["ok"] for v in losses]
    title = f"Stress tests ranked, worst first ({currency} loss, losses positive)"
    png = ranked_bars(losses, title, f"loss ({currency})", currency, colours)
    return f"**{title}**\n\n{markdown_image(png, 'stress losses ranked')}"


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def utilisation_frame(limits: Sequence[Mapping]) -> pd.DataFrame:
    """Numeric limits indexed by name: ``status``, ``used_pct`` (the figure as % of the breach threshold, or of
    the warn threshold when there is none; floors inverted so that more is worse) and ``warn_pct`` (the warn
    level on the same scale, NaN without one)."""
    rows = []
    for r in limits:
        figure, warn, breach = r.get("figure"), r.get("warn_threshold"), r.get("breach_threshold")
        if not _number(figure) or not any(_number(t) for t in (warn, breach)):
            continue
        reference = breach if _number(breach) else warn
        if reference == 0:  # a zero threshold has no utilisation scale (its status still shows in the table)
            continue
        floor = _number(warn) and _number(breach) and warn > breach
        used = (reference / figure if figure else math.inf) if floor else figure / reference
        warn_pct = (reference / warn if floor else warn / reference) if _number(warn) else np.nan
        rows.append({"limit": r["limit"], "status": r["status"], "used_pct": 100.0 * used,
                     "warn_pct": 100.0 * warn_pct})
    return pd.DataFrame(rows, columns=["limit", "status", "used_pct", "warn_pct"]).set_index("limit")


def utilisation_chart(limits: Sequence[Mapping]) -> str:
    """The numeric limits' utilisation bars with their warn and breach levels."""
    frame = utilisation_frame(limits)
    title = "Limit utilisation (% of breach threshold; green ok, amber warn, red breach)"
    return f"**{title}**\n\n{markdown_image(utilisation_bars(frame, title), 'limit utilisation')}"


def headline_utilisation(limits: Sequence[Mapping]) -> float | None:
    """The headline limit's utilisation as a fraction of its breach threshold (None when the file lacks it)."""
    frame = utilisation_frame(limits)
    if HEADLINE_LIMIT not in frame.index:
        return None
    return float(frame.at[HEADLINE_LIMIT, "used_pct"]) / 100.0


def limits_table(limits: Sequence[Mapping], currency: str = "USD") -> pd.DataFrame:
    """The limits a person reads: decision columns first (limit, status, utilisation %), figures formatted with
    their unit, thresholds beside them, then the family and the breach severity."""
    frame = pd.DataFrame(list(limits))
    used = utilisation_frame(limits)["used_pct"]

    def shown(value, unit: str) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "not evaluated"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if unit in ("% of NAV", "%"):
                return percent(float(value))
            if unit.upper() == currency:
                return money(float(value), currency)
            return f"{value:,.3f}".rstrip("0").rstrip(".") + (f" {unit}" if unit else "")
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

    return pd.DataFrame({
        "limit": frame["limit"],
        "status": frame["status"],
        "used_%_of_breach": [percent(used[name], 0) if name in used.index else "n/a" for name in frame["limit"]],
        "figure": [shown(v, u) for v, u in zip(frame["figure"], frame["unit"], strict=True)],
        "warn_at": [shown(v, u) if v is not None else "none" for v, u in
                    zip(frame["warn_threshold"], frame["unit"], strict=True)],
        "breach_at": [shown(v, u) if v is not None else "none" for v, u in
                      zip(frame["breach_threshold"], frame["unit"], strict=True)],
        "family": frame["family"],
        "breach_severity": frame["limit_severity"],
    })


def crisis_window_chart(series: Sequence[Mapping], marked: str, title: str, currency: str = "USD") -> str:
    """A crisis window's VaR 99% of each method against the book's loss (a validation's ``series`` rows: ``date,
    loss, var_<method>``), the exceptions of ``marked`` (the family's judged method, else the first) in red."""
    frame = pd.DataFrame(list(series))
    var = {c.removeprefix("var_"): frame[c].to_numpy(dtype=float) for c in frame.columns if c.startswith("var_")}
    if not var:
        return "no forecast in the window"
    marked = marked if marked in var else next(iter(var))
    png = var_against_pnl(pd.DatetimeIndex(pd.to_datetime(frame["date"])), frame["loss"].to_numpy(dtype=float), var,
                          marked, title, currency)
    return f"**{title}** (losses positive, {currency})\n\n{markdown_image(png, 'VaR against loss')}"


def lineage_markdown(run_id: str, upstream_runs: Mapping[str, str], model_training: Mapping[str, Mapping]) -> str:
    """Where this run's figures come from, as links: the runs that produced its inputs (Dagster), each model
    version's training run (MLflow, with its data digest), and the command that prints the whole chain."""
    lines = [f"`risk-platform lineage {run_id}` prints the chain back to the raw files and the GX validation.", ""]
    for name, source in upstream_runs.items():
        if name not in model_training:
            lines.append(f"- {name}: Dagster run [{source[:8]}]({dagster_run_url(source)})")
    for version, facts in model_training.items():
        if "error" in facts:
            lines.append(f"- {version}: {facts['error']}")
            continue
        lines.append(f"- {version}: MLflow training run [{facts['mlflow_run_id'][:8]}]"
                     f"({mlflow_run_url(facts['mlflow_experiment_id'], facts['mlflow_run_id'])}), data sha256"
                     f" {facts['data_sha256'][:12]}, Dagster run [{facts['dagster_run_id'][:8]}]"
                     f"({dagster_run_url(facts['dagster_run_id'])})")
    return "\n".join(lines)
