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
from risk_platform.render.formatting import money, percent
from risk_platform.risk.limits import LimitResult, limit_on
from risk_platform.risk.report import COUNTERFACTUAL_KIND, var_headline, worst_first
from risk_platform.validation.backtest import traffic_light
from risk_platform.validation.var_forecasts import VarForecast


def report_headline(report: Mapping, limit_utilisation: float | None = None) -> str:
    """:func:`~risk_platform.risk.report.var_headline` of a stored risk report (:meth:`PortfolioRisk.to_dict`)."""
    return var_headline(float(report["var_99"]), float(report["nav"]), report.get("bound_by", {}).get("var_99", ""),
                        report.get("currency", "USD"), int(report.get("horizon_days", 1)), limit_utilisation)


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
    rows = [{"scenario": name, "kind": r["kind"], "loss_usd": -float(r["pnl"]),
             "loss_pct_nav": -float(r["pnl_pct_nav"])}
            for name, r in worst_first(stress).items() if r["kind"] != COUNTERFACTUAL_KIND]
    return pd.DataFrame(rows, columns=["scenario", "kind", "loss_usd", "loss_pct_nav"])


def stress_chart(stress: Mapping[str, Mapping], currency: str = "USD") -> str:
    """The stress losses ranked worst first (red a loss, green a gain)."""
    frame = stress_frame(stress)
    losses = frame.set_index("scenario")["loss_usd"]
    colours = [STATUS_COLOURS["breach"] if v > 0 else STATUS_COLOURS["ok"] for v in losses]
    title = f"Stress tests ranked, worst first ({currency} loss, losses positive)"
    png = ranked_bars(losses, title, f"loss ({currency})", currency, colours)
    return f"**{title}**\n\n{markdown_image(png, 'stress losses ranked')}"


def utilisation_frame(limits: Sequence[LimitResult]) -> pd.DataFrame:
    """Numeric limits indexed by name: ``status``, ``used_pct`` and ``warn_pct`` (the figure and the warn level as %
    of the limit, :meth:`LimitResult.of_limit`; NaN without a warn level)."""
    rows = []
    for r in limits:
        used, warn = r.of_limit()
        if used is not None:
            rows.append({"limit": r.limit, "status": r.status, "used_pct": 100.0 * used,
                         "warn_pct": np.nan if warn is None else 100.0 * warn})
    return pd.DataFrame(rows, columns=["limit", "status", "used_pct", "warn_pct"]).set_index("limit")


def utilisation_chart(limits: Sequence[LimitResult]) -> str:
    """The numeric limits' utilisation bars with their warn and breach levels."""
    frame = utilisation_frame(limits)
    title = "Limit utilisation (% of breach threshold; green ok, amber warn, red breach)"
    return f"**{title}**\n\n{markdown_image(utilisation_bars(frame, title), 'limit utilisation')}"


def headline_utilisation(limits: Sequence[LimitResult]) -> float | None:
    """The utilisation of the limit on the headline VaR 99% (a fraction of its breach threshold; None without
    one): the figure the headline quotes."""
    var_limit = limit_on(list(limits))
    return None if var_limit is None else var_limit.of_limit()[0]


def limits_table(limits: Sequence[LimitResult], currency: str = "USD") -> pd.DataFrame:
    """The limits a person reads: decision columns first (limit, status, utilisation %), figures formatted with
    their unit, thresholds beside them, then the family and the breach severity."""
    frame = pd.DataFrame([r.to_dict() for r in limits])
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
