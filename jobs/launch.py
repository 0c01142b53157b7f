"""The main job's runs as the UI's runs: each run is created with the origin of the workspace's code location
(``workspace.yaml``) and executed in this process with the in-process executor.

A run started with ``execute_in_process`` has no code-location origin, so the UI's Overview, Jobs and Automation
pages (which list runs by the ``.dagster/repository`` label of their location) never show it. Here the run
carries the same origin the webserver gives a run launched from its Launchpad (the location named in
``workspace.yaml``, the repository of the module's ``Definitions``): the UI lists it under its job, can
re-execute it, and links its assets. It runs in the demo's own process (in-process executor: one import of the
code, no per-step subprocess), as ``execute_in_process`` did.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import execute_run
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

REPO = Path(__file__).resolve().parents[1]
WORKSPACE = REPO / "workspace.yaml"
DEFINITIONS_ATTRIBUTE = "defs"
REPOSITORY_NAME = "__repository__"  # the repository Dagster builds from a module's Definitions
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def workspace_module() -> tuple[str, str]:
    """(module, location name) of the workspace's one ``python_module`` entry (the name defaults to the module)."""
    entries = yaml.safe_load(WORKSPACE.read_text())["load_from"]
    entry = entries[0]["python_module"]
    if isinstance(entry, str):
        return entry, entry
    return entry["module_name"], entry.get("location_name", entry["module_name"])


def location_origin() -> RemoteRepositoryOrigin:
    """The repository origin the webserver computes for ``workspace.yaml``'s code location."""
    module, location = workspace_module()
    target = LoadableTargetOrigin(executable_path=sys.executable, module_name=module,
                                  working_directory=str(REPO))
    return RemoteRepositoryOrigin(ManagedGrpcPythonEnvCodeLocationOrigin(target, location), REPOSITORY_NAME)


def with_in_process_steps(job_def: dg.JobDefinition, run_config: dict[str, Any]) -> dict[str, Any]:
    """``run_config`` plus ``execution.config.in_process`` when the job has the default executor (steps in this
    process); another executor (Celery, resources/environments.py) keeps its own config and runs steps elsewhere."""
    if job_def.executor_def.name == dg.multi_or_in_process_executor.name:
        return {**run_config, **IN_PROCESS}
    return run_config


def run_job(instance: dg.DagsterInstance, job_name: str, *, run_config: dict[str, Any], tags: dict[str, str],
            partition_key: str | None = None) -> JobExecutionResult:
    """Create ``job_name``'s run with the code location's origin and execute it here (its steps in this process,
    or with the Celery executor on the workers, this process waiting for them); the result has the run's events
    (success, check evaluations); read asset values with ``Definitions.load_asset_value``."""
    module, _ = workspace_module()
    recon_job = ReconstructableRepository.for_module(module, DEFINITIONS_ATTRIBUTE, str(REPO)) \
        .get_reconstructable_job(job_name)
    job_def = recon_job.get_definition()
    partition_tags = {"dagster/partition": partition_key} if partition_key else {}
    run = instance.create_run_for_job(
        job_def=job_def, run_config=with_in_process_steps(job_def, run_config), tags={**tags, **partition_tags},
        remote_job_origin=location_origin().get_job_origin(job_name), job_code_origin=recon_job.get_python_origin())
    return execute_run(recon_job, run, instance)
