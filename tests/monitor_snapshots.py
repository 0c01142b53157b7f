"""Snapshot dicts as the live monitor publishes them (the sample book's size: NAV about $100m, VaR 99 about $2m),
for the tests of what consumes them (the live page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

NAV_USD = 100_000_000.0
START = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
# (warn, breach) in % of NAV: a book this size runs VaR 99 near 2% of NAV, these limits give it headroom
LIMITS_PCT_NAV = {"var_99": (2.5, 3.0), "var_95": (1.8, 2.2), "es_99": (3.0, 3.6)}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def sample_snapshot(snapshot_id: int, seconds: float = 0.0, var_99: float = 2_000_000.0,
                    loss_so_far_usd: float = 250_000.0, anomalies: list[dict] | None = None,
                    alerts_open: list[dict] | None = None) -> dict[str, Any]:
    """A snapshot ``seconds`` after :data:`START`; ES and VaR 95 scale with ``var_99`` as for a fat-tailed book,
    the limits are evaluated on them in % of NAV as :func:`risk_platform.risk.limits.evaluate_limit` does (the
    threshold crossed and the utilisation of it) and the methods bracket the binding figures."""
    moment = START + timedelta(seconds=seconds)
    figures = {"var_99": var_99, "es_99": var_99 * 1.22, "var_95": var_99 * 0.71, "es_95": var_99 * 0.93}
    limits = []
    for metric, (warn, breach) in LIMITS_PCT_NAV.items():
        figure = 100.0 * figures[metric] / NAV_USD
        status = "breach" if figure > breach else "warn" if figure > warn else "ok"
        threshold = warn if status == "warn" else breach  # as risk_platform.risk.limits: the one crossed
        limits.append({"limit": f"{metric}_pct_nav", "metric": metric, "figure": figure, "threshold": threshold,
                       "warn_threshold": warn, "breach_threshold": breach, "utilisation": figure / threshold,
                       "status": status, "unit": "% of NAV"})
    limits.append({"limit": "current_regime", "metric": "current_regime", "figure": "calm", "threshold": ["crisis"],
                   "utilisation": None, "status": "ok", "unit": ""})
    return {
        "snapshot_id": snapshot_id, "time": iso(moment), "published_at": iso(moment + timedelta(milliseconds=40)),
        "asof": "2026-11-30", "portfolio": "sample_book", "nav_usd": NAV_USD, "loss_so_far_usd": loss_so_far_usd,
        **figures, "portfolio_volatility": var_99 / 2.33, "diversification_ratio": 1.62,
        "horizon": {"remaining_fraction": 0.35,
                    "statement": "loss so far plus the risk of the remaining 35% of the trading day (to 16:00 ET)"},
        "bound_by": {"var_99": "historical simulation (500 days)", "es_99": "filtered HS (EWMA 0.94)"},
        "methods": {"historical": {k: v for k, v in figures.items()},
                    "parametric": {k: v * 0.9 for k, v in figures.items()}},
        "model_versions": ["lstm_vol v3", "regime_hmm v2"], "models_status": "ok",
        "limits": limits, "alerts_open": alerts_open or [], "anomalies": anomalies or [], "latency_ms": 12.5,
    }


def anomaly(seconds: float, metric: str = "var_99", value: float = 3_100_000.0) -> dict[str, Any]:
    """An anomaly raised on the update ``seconds`` after :data:`START`: ``value`` outside its expected band."""
    return {"metric": metric, "value": value, "low": 1_500_000.0, "high": 2_600_000.0,
            "time": iso(START + timedelta(seconds=seconds)), "message": f"{metric} jumped outside its expected band"}


def open_alert(seconds: float, limit: str = "var_99_pct_nav", status: str = "warn") -> dict[str, Any]:
    return {"limit": limit, "status": status, "opened_at": iso(START + timedelta(seconds=seconds)),
            "message": f"{limit} {status}: VaR 99 above its warn threshold (2.50% of NAV)"}
