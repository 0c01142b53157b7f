"""Turning library results into Dagster metadata that renders well in the UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from risk_platform.alerts import AlertSink, LimitCheck
from risk_platform.data.loading import RawPrices
from risk_platform.data.quality import GateOutcome
from risk_platform.features.correlation import CorrelationTables
from risk_platform.features.engineering import CORR_WINDOW
from risk_platform.portfolio.positions import Portfolio
from risk_platform.render.charts import markdown_image
from risk_platform.render.formatting import money
from risk_platform.reporting.data_views import missing_share_map
from risk_platform.reporting.feature_views import correlation_heatmap
from risk_platform.reporting.model_views import failed_gates, gate_table_markdown, promotion_headline
from risk_platform.reporting.risk_views import (
    component_var_chart,
    crisis_window_chart,
    headline_utilisation,
    limits_table,
    report_headline,
    stress_chart,
    stress_frame,
    utilisation_chart,
    var_against_pnl_chart,
)
from risk_platform.risk.limits import LimitResult, family_outcome
from risk_platform.risk.report import PortfolioRisk
from risk_platform.validation.crisis import WindowValidation
from risk_platform.validation.var_forecasts import VarForecast
from risk_platform.workflows.modelled_risk import ModelledRisk
from risk_platform.workflows.monitoring import MONITORED_MODEL, Monitoring
from risk_platform.workflows.promotion import Promotion
from risk_platform.workflows.training import NEW_VERSION_ALIAS, TrainedVersion

_TYPES = {"i": "int", "u": "int", "f": "float", "b": "bool"}


def table(frame: pd.DataFrame, max_rows: int = 200) -> dg.TableMetadataValue:
    """A DataFrame as a UI table (typed columns, NaN as empty)."""
    frame = frame.head(max_rows)
    schema = dg.TableSchema(
        columns=[dg.TableColumn(str(c), _TYPES.get(frame[c].dtype.kind, "string")) for c in frame.columns]
    )
    records = [dg.TableRecord({str(k): _plain(v) for k, v in row.items()}) for row in frame.to_dict(orient="records")]
    return dg.MetadataValue.table(records=records, schema=schema)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else round(float(value), 6)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return value if value is None or isinstance(value, (int, str)) else str(value)


def manifest_table(manifest: dict) -> dg.TableMetadataValue:
    """The partitions of a feature-store table with their content hashes."""
    return table(pd.DataFrame(manifest["partitions"])[["year", "rows", "sha256", "path"]])


def latest_gx_validation_id(context: dg.AssetExecutionContext) -> str:
    """The GX validation behind the latest market panel (used when a manifest does not carry one)."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("market_panel"))
    if event is None or event.asset_materialization is None:
        return "unknown"
    value = event.asset_materialization.metadata.get("gx_validation_id")
    return value.value if value is not None else "unknown"


def correlation_metadata(tables: CorrelationTables, neighbours: dict, latest: dict) -> dict[str, Any]:
    """The correlation tables (manifests of ``NEIGHBOUR_TABLE`` and ``LATEST_TABLE``): a headline, rows, bytes on
    disk, partitions with their hashes, and the heatmap of the latest matrix."""
    frame = tables.neighbours
    on_disk = sum(Path(neighbours["store_root"], p["path"]).stat().st_size
                  for m in (neighbours, latest) for p in m["partitions"])
    return {
        "headline": f"{CORR_WINDOW}-day correlations of {frame['symbol'].nunique()} series: top {tables.k} "
                    f"neighbours by |corr| on {frame['date'].nunique():,} dates, latest matrix on "
                    f"{tables.latest_date:%Y-%m-%d}",
        "rows": neighbours["rows"],
        "latest_rows": latest["rows"],
        "bytes_on_disk": on_disk,
        "partitions": manifest_table(neighbours),
        "latest_partitions": manifest_table(latest),
        "latest_heatmap": dg.MetadataValue.md(correlation_heatmap(tables.latest_matrix(), tables.latest_date,
                                                                  CORR_WINDOW)),
    }


# ------------------------------------------------------------------------ models, validation and promotion


def model_version_metadata(trained: TrainedVersion) -> dict:
    """A registered version: a one-line headline, its charts inline, its URI, number, run, alias, the metrics its
    run logged (4 significant figures) and its tables."""
    version = trained.version
    return {"headline": f"{trained.family} v{version.version} registered as {NEW_VERSION_ALIAS}",
            **{f"chart_{name}": dg.MetadataValue.md(markdown_image(png, name)) for name, png in trained.charts.items()},
            **{name: dg.MetadataValue.url(url) for name, url in trained.links.items()},
            "model_uri": version.model_uri, "model_version": version.version, "mlflow_run_id": version.run_id,
            "alias": NEW_VERSION_ALIAS, **{k: float(f"{v:.4g}") for k, v in trained.metrics.items()},
            **{name: table(frame) for name, frame in trained.tables.items()}}


def window_validation_metadata(result: WindowValidation, judged_method: str = "fhs") -> dict:
    """One family in one crisis window: a headline (the judged method's 99% exceptions and zone), the VaR against
    loss chart, status, the backtests per method and confidence, the family's figures."""
    rows = pd.DataFrame(result.backtests)
    judged = rows[(rows["method"] == judged_method) & (rows["alpha"] == 0.99)] if len(rows) else rows
    headline = (f"{result.window}: {judged_method} VaR 99% {judged['exceptions'].iat[0]} exceptions in"
                f" {judged['n'].iat[0]} days ({judged['expected_exceptions'].iat[0]:.1f} expected), zone"
                f" {judged['zone'].iat[0]}" if len(judged) else f"{result.window}: {result.status}")
    chart = crisis_window_chart(result.series, judged_method, f"{result.family}: VaR 99% 1-day in {result.window}")
    shown = rows[["method", "alpha", "n", "exceptions", "expected_exceptions", "zone", "kupiec_p",
                  "christoffersen_p", "es_z2", "tick_loss"]].round(4) if len(rows) else pd.DataFrame(
        [{"status": result.status}])
    return {"headline": headline, "var_against_loss": dg.MetadataValue.md(chart),
            "window": result.window, "status": result.status, "backtests": table(shown),
            "trained_on": f"{result.train_start}..{result.train_end}" if result.train_start else "n/a",
            **{k: round(v, 6) for k, v in result.metrics.items() if pd.notna(v)}}


def promotion_metadata(promotion: Promotion) -> dict:
    """The outcome per family first (one line), the gate table coloured (one row per gate), the decisions, the 99%
    zones per window and method, how many were promoted, and how many aliases moved outside the audited path were
    put back first."""
    decided = pd.DataFrame([d.to_dict() for d in promotion.decisions])
    decided["restored"] = decided["restored"].map(lambda found: "; ".join(found) or "none")
    links = {f"{d.model}.{name}": dg.MetadataValue.url(url) for d in promotion.decisions
             for name, url in d.links.items()}
    return {"headline": promotion_headline(promotion.decisions),
            "gates": dg.MetadataValue.md(gate_table_markdown(promotion.decisions)),
            **links,
            "decisions": table(decided.drop(columns="gates")),
            "unaudited_aliases_restored": sum(len(d.restored) for d in promotion.decisions),
            "zones_99": table(promotion.zones_99().reset_index()),
            "promoted": int(decided["passed"].sum())}


def promotion_check(promotion: Promotion, check_name: str) -> dg.AssetCheckResult:
    """WARN when a version was refused: the check names each refused version and the gates it failed."""
    refused = [d for d in promotion.decisions if not d.passed]
    lines = [f"- **{d.model} v{d.version}** refused: " + "; ".join(failed_gates(d)) for d in refused]
    return dg.AssetCheckResult(
        check_name=check_name, passed=not refused, severity=dg.AssetCheckSeverity.WARN,
        description="\n".join(lines) or "every version judged passed its gates",
        metadata={"refused": ", ".join(f"{d.model} v{d.version}" for d in refused) or "none",
                  "promoted": ", ".join(f"{d.model} v{d.version}" for d in promotion.decisions if d.passed) or "none"})


def monitoring_metadata(monitoring: Monitoring) -> dict:
    """Whether the monitored LSTM breached (the drift sensor reads ``drift_breach`` and ``model_key``)."""
    drift = monitoring.drift
    if drift is None:
        return {"drift_breach": False, "model_key": MONITORED_MODEL, "status": "no version"}
    return {"drift_breach": drift.breach, "model_key": MONITORED_MODEL,
            "monitored": f"v{drift.version} ({monitoring.alias})", "qlike_ratio_to_ewma": round(drift.qlike_ratio, 4),
            "exceptions_99": drift.exceptions, "zone_99": drift.zone, "kupiec_p_99": round(drift.kupiec_p, 4),
            "summary": dg.MetadataValue.md(drift.summary()), "shadow": dg.MetadataValue.md(monitoring.shadow)}


# --- workflows: ingestion, portfolio risk and limits metadata ---------------------------------------------------
CHECK_SEVERITY = {"warn": dg.AssetCheckSeverity.WARN, "error": dg.AssetCheckSeverity.ERROR}


def instruments_metadata(frame: pd.DataFrame, path: str, sha256: str) -> dict[str, Any]:
    return {"rows": len(frame), "file": dg.MetadataValue.path(path), "sha256": sha256,
            "by_asset_class": dg.MetadataValue.json(frame.groupby("asset_class").size().to_dict())}


def raw_prices_metadata(raw: RawPrices) -> dict[str, Any]:
    frame = raw.frame
    files = pd.DataFrame([{"file": f.path, "sha256": f.sha256, "rows": f.rows} for f in raw.files])
    return {
        "rows": len(frame),
        "symbols": len(raw.symbols),
        "first_date": f"{frame['date'].min():%Y-%m-%d}",
        "last_date": f"{frame['date'].max():%Y-%m-%d}",
        "files": table(files),
        "sha256": ",".join(f.sha256 for f in raw.files),
        "missing_token_rows": raw.missing_token_rows,
        "exact_duplicates_dropped": raw.exact_duplicates_dropped,
    }


def _gate_common(outcome: GateOutcome) -> dict[str, Any]:
    return {"gx_validation_id": outcome.decision.gx_validation_id,
            "gx_result": dg.MetadataValue.path(str(outcome.gx_result_path))}


GATE_DECISION_COLUMNS = ("symbol", "accepted", "recent_missing_%", "missing_%", "missing_sessions",
                         "suspect_points")


def _gate_table(outcome: GateOutcome) -> dg.TableMetadataValue:
    """The feeds, rejected first, the decisive columns first (shares in %), the detail after them."""
    feeds = outcome.feed_table().sort_values(["accepted", "recent_missing_share", "missing_share"],
                                             ascending=[True, False, False])
    feeds = feeds.assign(**{"recent_missing_%": (100 * feeds["recent_missing_share"]).round(1),
                            "missing_%": (100 * feeds["missing_share"]).round(2)})
    rest = [c for c in feeds.columns if c not in GATE_DECISION_COLUMNS
            and c not in ("missing_share", "recent_missing_share", "flag_points_json")]
    return table(feeds[[*GATE_DECISION_COLUMNS, *rest]])


def _suspect_metadata(outcome: GateOutcome) -> dict[str, Any]:
    suspects = outcome.suspects
    return {"suspect_points": len(suspects), "flagged_feeds": ", ".join(outcome.flagged) or "none",
            "suspects": table(suspects.assign(date=suspects["date"].astype(str))) if len(suspects) else "none",
            "suspect_files": ", ".join(str(p) for p in outcome.suspect_files) or "none"}


def gate_outputs_metadata(outcome: GateOutcome, panel: pd.DataFrame, raw: pd.DataFrame,
                          instruments: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metadata of ``feed_quality`` and of ``market_panel`` (its headline and missing-share map first)."""
    decision = outcome.decision
    panel_metadata = {"headline": f"{len(outcome.accepted) + len(outcome.rejected)} feeds: {len(outcome.accepted)}"
                                  f" accepted, {len(outcome.rejected)} rejected"
                                  + (f" ({', '.join(outcome.rejected)})" if outcome.rejected else ""),
                      "missing_share_map": dg.MetadataValue.md(missing_share_map(raw, instruments, outcome.rejected,
                                                                                 decision.threshold)),
                      "rows": len(panel), "accepted_feeds": len(outcome.accepted),
                      "rejected_feeds": ", ".join(outcome.rejected) or "none",
                      "not_evaluated_feeds": ", ".join(decision.not_evaluated) or "none", **_suspect_metadata(outcome),
                      **_gate_common(outcome)}
    return {"feeds": _gate_table(outcome), **_gate_common(outcome)}, panel_metadata


def gate_check(outcome: GateOutcome, check_name: str, asset_key: str) -> dg.AssetCheckResult:
    """The gate's asset check: passed, its severity (:class:`GateOutcome`), the rejections, the suspect points
    and the quarantine."""
    decision = outcome.decision
    return dg.AssetCheckResult(
        check_name=check_name, asset_key=asset_key, passed=outcome.passed, severity=CHECK_SEVERITY[outcome.severity],
        description=outcome.markdown(),
        metadata={
            "threshold": decision.threshold,
            "rejected": ", ".join(outcome.rejected) or "none",
            **_suspect_metadata(outcome),
            "rejections": dg.MetadataValue.md("\n".join(f"- {line}" for line in decision.rejection_lines()) or "none"),
            "quarantined": ", ".join(str(p.parent) for p in outcome.quarantined) or "none",
            "feeds": _gate_table(outcome),
            **_gate_common(outcome),
        },
    )


def portfolio_metadata(book: Portfolio) -> dict[str, Any]:
    frame = book.positions
    return {"source": book.source, "positions": len(frame), "nav": book.nav,
            "by_asset_class": dg.MetadataValue.json(frame.groupby("asset_class").size().to_dict())}


def _figures(report: PortfolioRisk) -> pd.DataFrame:
    """Every method's figures, money formatted (``USD 6.19m``), the binding method first."""
    keys = ("var_95", "var_99", "es_95", "es_99")
    rows = [{"method": name, **{f"{k}_{report.currency.lower()}": money(m[k], report.currency) for k in keys
                                if isinstance(m.get(k), int | float)}, "_sort": -float(m.get("var_99") or 0.0)}
            for name, m in report.methods.items() if isinstance(m, dict)]
    return pd.DataFrame(rows).sort_values("_sort", kind="stable").drop(columns="_sort")


def bound_by_lines(bound_by: dict[str, str]) -> str:
    """One Markdown bullet per distinct binding, naming the figures it bound."""
    figures: dict[str, list[str]] = {}
    for figure, source in bound_by.items():
        figures.setdefault(source, []).append(figure)
    return "\n".join(f"- **{', '.join(names)}**: {source}" for source, names in figures.items()) or "none"


def portfolio_risk_metadata(risk: ModelledRisk, recent: VarForecast | str, limit_utilisation: float | None,
                            lineage: str) -> dict[str, Any]:
    """The headline first (formatted, with units), then the charts (VaR against P&L with exceptions, component VaR
    by asset class, stress ranked), the figures with units in their names, and the detail tables."""
    report, models = risk.report, risk.models
    currency = report.currency
    return {
        "headline": report.headline(limit_utilisation),
        "var_against_pnl": dg.MetadataValue.md(var_against_pnl_chart(recent, currency)
                                               if isinstance(recent, VarForecast) else f"not shown: {recent}"),
        "component_var_by_asset_class": dg.MetadataValue.md(component_var_chart(report.positions, currency)),
        "stress_ranked": dg.MetadataValue.md(stress_chart(report.stress_test_results, currency)
                                             if report.stress_test_results else "no stress test run"),
        "bound_by": dg.MetadataValue.md(bound_by_lines(report.bound_by)),
        "lineage": dg.MetadataValue.md(lineage),
        "asof": report.asof,
        f"var_99_{currency.lower()}": dg.MetadataValue.float(round(report.var_99, 2)),
        f"var_95_{currency.lower()}": dg.MetadataValue.float(round(report.var_95, 2)),
        f"es_99_{currency.lower()}": dg.MetadataValue.float(round(report.es_99, 2)),
        "var_99_pct_nav": dg.MetadataValue.float(round(100 * report.var_99 / report.nav, 3)),
        "model_versions": ", ".join(report.model_versions) or "none (no aliased model)",
        "aliases": dg.MetadataValue.json(models.aliases),
        "current_regime": report.current_regime,
        "days_to_liquidate_portfolio": round(report.days_to_liquidate_portfolio, 2),
        "figures": table(_figures(report)),
        "stress_tests": table(stress_frame(report.stress_test_results).round(2)),
        "positions": table(pd.DataFrame(report.positions).round(2)),
        "flagged_positions": table(pd.DataFrame(report.flagged_positions or [{"symbol": "none"}])),
        "data_flags": dg.MetadataValue.md("\n".join(f"- {f['statement']}" for f in report.data_flags) or "none"),
        "model_notes": "; ".join(models.notes) or "none",
        "summary": dg.MetadataValue.md(f"```\n{report.summary()}\n```"),
    }


def risk_history_metadata(report: PortfolioRisk, limit_utilisation: float | None) -> dict[str, Any]:
    """One as-of date's headline figures (numbers, for the Plots tab; the headline line first)."""
    unit = report.currency.lower()
    figures = {"headline": report.headline(limit_utilisation),
               f"var_99_{unit}": dg.MetadataValue.float(round(report.var_99, 2)),
               f"es_99_{unit}": dg.MetadataValue.float(round(report.es_99, 2)),
               f"var_95_{unit}": dg.MetadataValue.float(round(report.var_95, 2)),
               "var_99_pct_nav": dg.MetadataValue.float(round(100 * report.var_99 / report.nav, 4)),
               "bound_by": report.binding("var_99")}
    if limit_utilisation is not None:
        figures["var_99_pct_of_limit"] = dg.MetadataValue.float(round(100 * limit_utilisation, 2))
    return figures


def coverage_check(report: PortfolioRisk, check_name: str) -> dg.AssetCheckResult:
    """Every position valued (WARN when some are flagged)."""
    return dg.AssetCheckResult(
        check_name=check_name, passed=not report.flagged_positions, severity=dg.AssetCheckSeverity.WARN,
        metadata={"flagged": ", ".join(f"{f['symbol']} ({f['reason']})" for f in report.flagged_positions) or "none",
                  "coverage_pct_gross": report.coverage_pct_gross})


def models_check(risk: ModelledRisk, check_name: str) -> dg.AssetCheckResult:
    """The model registry was read (ERROR when it was unreadable or lost the versions the audit log expects: the
    figures then come from the non-model methods only)."""
    models = risk.models
    return dg.AssetCheckResult(
        check_name=check_name, passed=models.registry_error is None, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"registry_error": models.registry_error or "none",
                  "model_sets": ", ".join(m.label for m in models.inputs) or "none"})


def aliases_audited_check(risk: ModelledRisk, check_name: str) -> dg.AssetCheckResult:
    """ERROR when an alias was found where the audit log does not put it (refused: the audited version was used)."""
    moves = risk.models.unaudited
    refused = "; ".join(move.describe() for move in moves)
    return dg.AssetCheckResult(
        check_name=check_name, passed=not moves, severity=dg.AssetCheckSeverity.ERROR, description=refused or None,
        metadata={"unaudited_moves": len(moves), "refused": refused or "none"})


def limits_metadata(check: LimitCheck, report: dict, sink: AlertSink, limits_file: str) -> dict[str, Any]:
    """The headline with the VaR limit's utilisation first, the utilisation chart, the readable limits table
    (decision columns first, units formatted), then the alerting facts and the raw figures."""
    results = check.results
    raw = pd.DataFrame([r.to_dict() for r in results])[
        ["limit", "family", "status", "figure", "threshold", "utilisation", "unit", "limit_severity"]
    ].astype({"figure": str, "threshold": str})
    return {
        "headline": report_headline(report, headline_utilisation(results)) + " | " + ", ".join(
            f"{n} {status}" for status, n in check.status_counts().items() if n),
        "utilisation": dg.MetadataValue.md(utilisation_chart(results)),
        "limits": table(limits_table(results, str(report.get("currency", "USD")))),
        "asof": str(report.get("asof")),
        **check.status_counts(),
        "alerts_written": len(check.alerts),
        "alert_events": ", ".join(f"{a.event} {a.limit}" for a in check.alerts) or "none",
        "alerts_suppressed": dg.MetadataValue.int(len(check.triage.suppressed)),
        "alert_log": dg.MetadataValue.path(str(sink.jsonl_path)),
        "webhook": sink.webhook_status(check.delivery),
        "limits_file": dg.MetadataValue.path(limits_file),
        "limits_raw": table(raw),
    }


def limit_family_check(family: str, results: list[LimitResult], check_name: str,
                       asset_key: str) -> dg.AssetCheckResult:
    """One limit family's asset check: failed at warn or breach, with the severity of its worst limit."""
    outcome = family_outcome(family, results)
    return dg.AssetCheckResult(
        check_name=check_name, asset_key=asset_key, passed=outcome.passed, severity=CHECK_SEVERITY[outcome.severity],
        description=outcome.summary,
        metadata={
            **{f"{r.limit}.figure": _limit_value(r.figure) for r in outcome.results},
            **{f"{r.limit}.threshold": _limit_value(r.threshold) for r in outcome.results},
            **{f"{r.limit}.status": r.status for r in outcome.results},
            "model_versions": dg.MetadataValue.json({r.limit: r.bound_by for r in outcome.results}),
        },
    )


def _limit_value(value: Any) -> Any:
    if value is None:
        return "not evaluated"
    if isinstance(value, float):
        return round(value, 6)
    return value if isinstance(value, (int, str)) else str(value)


# --- staleness against the clock (portfolio_risk's data_fresh check) -------------------------------------------


def data_fresh_check(report: PortfolioRisk, check_name: str, error_after: int | None = None) -> dg.AssetCheckResult:
    """Failed when the report is stale against the clock (a feed more than ``max_data_age_sessions`` venue
    sessions old on the evaluation date): WARN, or ERROR when a feed is older than ``error_after`` sessions."""
    oldest = max(report.feed_age_sessions.values(), default=0)
    error = error_after is not None and oldest > error_after
    ages = pd.DataFrame(sorted(report.feed_age_sessions.items(), key=lambda kv: -kv[1]), columns=["feed", "sessions"])
    return dg.AssetCheckResult(
        check_name=check_name, passed=not (report.stale_against_clock or error),
        severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN,
        description=report.data_age_line(),
        metadata={"evaluation_date": report.evaluation_date, "asof": report.asof, "oldest_feed_sessions": oldest,
                  "max_data_age_sessions": report.max_data_age_sessions,
                  "error_data_age_sessions": "not set" if error_after is None else error_after,
                  "feed_age_sessions": table(ages)})


# --- flagged market data points (portfolio_risk's market_data_plausible check) ---------------------------------


def data_plausible_check(report: PortfolioRisk, check_name: str) -> dg.AssetCheckResult:
    """Failed (WARN) when the report rests on flagged market data points: suspect points removed from the panel,
    or unconfirmed latest prices kept; each named with the figures it affects."""
    flags = report.data_flags
    unconfirmed = [f"{f['symbol']} {f['date']}" for f in report.unconfirmed_prices]
    return dg.AssetCheckResult(
        check_name=check_name, passed=not flags, severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(f["statement"] for f in flags) or "no flagged market data point",
        metadata={"data_flags": len(flags), "unconfirmed_prices_used": ", ".join(unconfirmed) or "none",
                  "points": table(pd.DataFrame([{k: f[k] for k in ("symbol", "date", "value", "status", "why")}
                                                for f in flags] or [{"symbol": "none"}])),
                  "statements": dg.MetadataValue.md("\n".join(f"- {f['statement']}" for f in flags) or "none")})
