"""What the Dagster side shows of the live monitor: its last snapshot (read from the checkpoint the monitor
writes atomically after every snapshot) as facts and a Markdown summary with units."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from risk_platform.monitor.runner import CHECKPOINT
from risk_platform.render.charts import live_history
from risk_platform.render.formatting import money, percent, share


def read_checkpoint(state_dir: Path | str) -> dict:
    """The monitor's checkpoint (empty when it never ran there, or the checkpoint is unreadable)."""
    try:
        return json.loads((Path(state_dir) / CHECKPOINT).read_text())
    except (OSError, ValueError):
        return {}


def last_snapshot(state_dir: Path | str) -> dict | None:
    """The monitor's last published snapshot, None when it never ran there."""
    return read_checkpoint(state_dir).get("snapshot")


def recent_chart(rows: list[dict]) -> bytes | None:
    """The recent snapshots' day VaR 99, ES 99 and loss so far (the day's figures shrink to the realised loss at each
    close) and the live book's VaR 99 a full day ahead, against the VaR limit (PNG); None without rows."""
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    lines = {"VaR 99 (day)": "var_99", "ES 99 (day)": "es_99", "loss so far": "loss_so_far_usd",
             "VaR 99 (next 1 day, live book)": "var_99_1d_live"}
    return live_history(pd.DatetimeIndex(pd.to_datetime(frame["time"], utc=True, format="ISO8601")),
                        {label: frame[key].to_numpy(dtype=float) for label, key in lines.items() if key in frame},
                        frame["var_99_limit_usd"].to_numpy(dtype=float) if "var_99_limit_usd" in frame else None,
                        f"Live monitor: the last {len(frame)} snapshots (USD, 1 day, losses positive)")


def snapshot_headline(snapshot: dict) -> str:
    """One line with units: the day's VaR 99, its share of NAV, when and which snapshot."""
    share_of_nav = percent(100 * snapshot["var_99"] / (snapshot.get("nav_usd") or float("nan")))
    return (f"{money(snapshot['var_99'])}, {share_of_nav} of NAV at {snapshot['time']}"
            f" (snapshot {snapshot['snapshot_id']})")


def snapshot_markdown(snapshot: dict) -> str:
    """The snapshot's headline figures, limits and anomalies as Markdown (USD, losses positive)."""
    nav = snapshot.get("nav_usd") or float("nan")
    rows = [f"| {label} | {money(snapshot[key])} | {percent(100 * snapshot[key] / nav)} |"
            for label, key in (("VaR 95% (day)", "var_95"), ("VaR 99% (day)", "var_99"), ("ES 95% (day)", "es_95"),
                               ("ES 99% (day)", "es_99"), ("loss so far", "loss_so_far_usd"))]
    limits = [f"| {r['limit']} | {r['status']} | {share(r['utilisation'])} |"
              for r in snapshot.get("limits", []) if r["family"] != "anomaly"]
    anomalies = [f"- {a['message']}" for a in snapshot.get("anomalies", [])]
    return "\n".join([
        f"**Live monitor, snapshot {snapshot['snapshot_id']}** at {snapshot['time']} (close {snapshot['asof']},"
        f" published in {snapshot.get('latency_ms', float('nan')):.0f} ms)", "",
        "| figure | USD | % of NAV |", "|---|---|---|", *rows, "",
        f"{snapshot['horizon']['statement']}", "",
        f"Models: {snapshot.get('models_status', '')}", "",
        "| limit | status | utilisation |", "|---|---|---|", *limits, "",
        *(["Anomalies on this snapshot:", *anomalies] if anomalies else ["No anomaly on this snapshot."]),
    ])
