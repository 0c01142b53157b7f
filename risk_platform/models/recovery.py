"""After a crash: MLflow runs a killed process left RUNNING are marked FAILED, with the reason as a tag.

A run is an orphan when its ``dagster_run_id`` tag names a Dagster run that can no longer be running (finished,
failed, or unknown to the instance). The caller answers that question (``dagster_run_over``), so this module
knows nothing of Dagster; a RUNNING run without the tag is left alone (nothing says whose it is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Run

RECOVERY_TAG = "risk_platform.recovery"  # why crash recovery marked the run FAILED
PAGE = 1000


def fail_orphan_runs(tracking_uri: str, dagster_run_over: Callable[[str], str | None]) -> list[str]:
    """Mark FAILED every RUNNING run whose Dagster run ``dagster_run_over(dagster_run_id)`` says is over (it
    returns why, e.g. "Dagster run 1f2e... is FAILURE", or None while that run may still be in flight); each
    gets the tag :data:`RECOVERY_TAG` with the reason. Returns the MLflow run ids marked. A sqlite store that
    does not exist yet has no runs (and is not created)."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).exists():
        return []
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    marked = []
    for run in list(_running_runs(client)):  # all pages first: marking runs shifts the RUNNING pages
        dagster_run_id = run.data.tags.get("dagster_run_id")
        why = dagster_run_over(dagster_run_id) if dagster_run_id else None
        if why is None:
            continue
        client.set_tag(run.info.run_id, RECOVERY_TAG, f"marked FAILED after a crash: {why}; the process that"
                                                      " logged this run died before ending it")
        client.set_terminated(run.info.run_id, "FAILED")
        marked.append(run.info.run_id)
    return marked


def _running_runs(client: MlflowClient) -> Iterator[Run]:
    """Every RUNNING run of every active experiment of the store, page by page."""
    experiment_ids, token = [], None
    while True:
        page = client.search_experiments(max_results=PAGE, page_token=token)
        experiment_ids += [e.experiment_id for e in page]
        token = page.token
        if not token:
            break
    if not experiment_ids:
        return
    while True:
        runs = client.search_runs(experiment_ids, filter_string="attributes.status = 'RUNNING'", max_results=PAGE,
                                  page_token=token)
        yield from runs
        token = runs.token
        if not token:
            return
