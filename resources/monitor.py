"""Where the live monitor (``risk-platform monitor``) keeps its checkpoint, read by the ``live_monitor_snapshot``
sensor."""

from __future__ import annotations

import dagster as dg


class LiveMonitorResource(dg.ConfigurableResource):
    """The monitor's state folder (its ``--state-dir``: checkpoint with the last snapshot, spools)."""

    state_dir: str
