"""Where materializations append their lineage records."""

import dagster as dg

from risk_platform.lineage import LineageRecord, LineageStore, git_sha


class LineageResource(dg.ConfigurableResource):
    """Where materializations append their lineage records (read by ``risk-platform lineage``)."""

    root: str

    def record(self, context: dg.AssetExecutionContext, asset: str, upstream: list[str], facts: dict) -> dict:
        """Append the record of ``asset`` in this run, with ``upstream_runs``: the run that materialized the
        latest value of each upstream asset (what this run read), beside any the facts name (model versions'
        training runs), so that ``risk-platform lineage`` follows a run back through the runs it read from. Returns
        the facts recorded."""
        runs = {}
        for name in upstream:
            event = context.instance.get_latest_materialization_event(dg.AssetKey(name))
            if event is not None:
                runs[name] = event.run_id
        facts = {**facts, "upstream_runs": {**runs, **facts.get("upstream_runs", {})}}
        LineageStore(self.root).record(LineageRecord(context.run_id, asset, upstream, facts, git_sha()))
        return facts
