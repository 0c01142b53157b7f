"""Where materializations append their lineage records."""

import dagster as dg

from risk_platform.lineage import LineageRecord, LineageStore, git_sha


class LineageResource(dg.ConfigurableResource):
    """Where materializations append their lineage records (read by ``risk-platform lineage``)."""

    root: str

    def record(self, dagster_run_id: str, asset: str, upstream: list[str], facts: dict) -> None:
        LineageStore(self.root).record(LineageRecord(dagster_run_id, asset, upstream, facts, git_sha()))
