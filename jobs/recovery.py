"""Crash recovery for runs made without a daemon (``make demo``: ``execute_in_process`` on the embedded instance).

A kill -9 of such a process leaves its Dagster run STARTED, the MLflow runs it logged RUNNING and atomic-write
staging files behind, for ever: no daemon watches those runs (and Dagster's run monitoring cannot see a dead
worker of the ``DefaultRunLauncher`` anyway; its ``max_runtime_seconds`` fails it hours later, under ``make ui``).
So every run ``jobs/demo.py`` starts carries the launching host and pid (:func:`launcher_tags`), and the next main
job, holding the main-job lock, calls :func:`recover_after_crash` first: a run of this host whose pid is gone is
failed, a run of a live process (or of another host) is never touched.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from risk_platform.io import remove_staging_files

HOST_TAG = "risk_platform/host"
PID_TAG = "risk_platform/pid"
# a run killed before it started is stuck too; QUEUED and CANCELING belong to a daemon, which resolves them
STUCK_STATUSES = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def launcher_tags() -> dict[str, str]:
    """Tags naming the process that runs a job in-process (host and pid), for :func:`fail_dead_runs`."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Report failed every stuck run (:data:`STUCK_STATUSES`) tagged with this host and a pid that is no longer
    alive; returns their run ids. Runs without the tags, of another host or of a live pid are left alone."""
    host = socket.gethostname()
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=STUCK_STATUSES, tags={HOST_TAG: host})):
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        instance.report_run_failed(run, f"process {pid} on {host} that ran this run in-process is gone (killed or"
                                        f" crashed) while the run was {run.status.value}; failed by crash recovery"
                                        " at the start of the next main job")
        failed.append(run.run_id)
    return failed


def dagster_run_over(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """Why the Dagster run ``run_id`` can no longer be running (finished, failed, unknown); None while it may."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return f"its Dagster run {run_id} is unknown to the instance {instance.root_directory}"
    return f"its Dagster run {run_id} is {run.status.value}" if run.is_finished else None


def recover_after_crash(instance: dg.DagsterInstance, tracking_uri: str, staging_roots: Iterable[Path]) -> str | None:
    """Fail dead runs, then the MLflow runs they (or any ended run) left RUNNING, then remove abandoned staging
    files under ``staging_roots``. The one line to print, or None when there was nothing to recover."""
    from risk_platform.models.recovery import fail_orphan_runs  # MLflow: on use, not at the code location's start-up

    runs = fail_dead_runs(instance)
    mlflow_runs = fail_orphan_runs(tracking_uri, lambda run_id: dagster_run_over(instance, run_id))
    staging = remove_staging_files(staging_roots)
    if not (runs or mlflow_runs or staging):
        return None
    return (f"recovered after a crash: {len(runs)} stuck run(s) failed, {len(mlflow_runs)} MLflow run(s) marked"
            f" FAILED, {len(staging)} staging file(s) removed")
