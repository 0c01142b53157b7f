"""What the Dagster side shows of the live monitor: its last snapshot (read from the checkpoint the monitor
writes atomically after every snapshot) as facts and a Markdown summary with units."""

from __future__ import annotations

import json
from pathlib import Path

from risk_platform.monitor.runner import CHECKPOINT
from risk_platform.render.formatting import money, percent, share


def last_snapshot(state_dir: Path | str) -> dict | None:
    """The monitor's last published snapshot, None when it never ran there (or the checkpoint is unreadable)."""
    path = Path(state_dir) / CHECKPOINT
    try:
        return json.loads(path.read_text()).get("snapshot")
    except (OSError, ValueError):
        return None


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
