"""After a kill -9: the Dagster runs, MLflow runs and staging files a dead process left behind are recovered by
the next main job (jobs/recovery.py), and the instances' run monitoring fails a stuck run under a daemon.

The crash is real: a child process runs a job in-process on a SQLite instance in tmp, writes half a staging file
and kills itself (SIGKILL) mid-run, leaving its run STARTED, tagged with its (now dead) pid."""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from mlflow import MlflowClient

from jobs.recovery import HOST_TAG, PID_TAG, launcher_tags, recover_after_crash
from risk_platform.io import STAGING_GRACE_SECONDS, remove_staging_files, staging_path, write_once
from risk_platform.models.recovery import RECOVERY_TAG

ROOT = Path(__file__).resolve().parents[2]
# the child loads jobs/recovery.py alone: importing the jobs package builds every job (half a minute)
CRASH = """
import importlib.util, os, signal, sys
from pathlib import Path
import dagster as dg
from risk_platform.io import atomic_write

spec = importlib.util.spec_from_file_location("recovery", "jobs/recovery.py")
recovery = importlib.util.module_from_spec(spec)
spec.loader.exec_module(recovery)

def die_mid_write(tmp: Path) -> None:
    tmp.write_text("half a record")
    os.kill(os.getpid(), signal.SIGKILL)

@dg.op
def crashes() -> None:
    atomic_write(Path(sys.argv[2]) / "assets" / "risk.json", die_mid_write)

@dg.job
def crashing() -> None:
    crashes()

instance = dg.DagsterInstance.from_config(sys.argv[1])
crashing.execute_in_process(instance=instance, tags=recovery.launcher_tags())
"""


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """A Dagster home, a state folder and the pid of the process killed mid-run (its run left STARTED)."""
    root = tmp_path_factory.mktemp("crash")
    home, state = root / "dagster_home", root / "var"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "resources" / "instance" / "embedded.yaml").read_text())
    child = subprocess.run([sys.executable, "-c", CRASH, str(home), str(state)], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.returncode == -9, child.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (stuck,) = instance.get_runs()
        assert stuck.status == dg.DagsterRunStatus.STARTED
        pid = int(stuck.tags[PID_TAG])
    return home, state, pid


def _running(client: MlflowClient, dagster_run_id: str | None) -> str:
    experiment = client.get_experiment_by_name("recovery") or client.get_experiment(
        client.create_experiment("recovery"))
    tags = {"dagster_run_id": dagster_run_id} if dagster_run_id else {}
    return client.create_run(experiment.experiment_id, tags=tags).info.run_id


@dg.op(config_schema={"uri": str, "state": str})
def recover_while_running(context: dg.OpExecutionContext) -> str | None:
    """Runs recovery from inside a live run (its own run is STARTED meanwhile), with one MLflow run of its own."""
    uri, state = context.op_config["uri"], context.op_config["state"]
    mine = _running(MlflowClient(uri), context.run_id)
    line = recover_after_crash(context.instance, uri, [Path(state)])
    assert MlflowClient(uri).get_run(mine).info.status == "RUNNING"  # its Dagster run is live
    MlflowClient(uri).set_terminated(mine, "FINISHED")
    return line


def _recover_in_run(instance: dg.DagsterInstance, uri: str, state: Path,
                    tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    job = dg.GraphDefinition(name="recovering", node_defs=[recover_while_running]).to_job()
    config = {"ops": {"recover_while_running": {"config": {"uri": uri, "state": str(state)}}}}
    return job.execute_in_process(instance=instance, run_config=config, tags=tags)


def test_the_next_main_job_fails_the_dead_run_its_mlflow_runs_and_removes_its_staging_file(crashed, tmp_path):
    home, state, dead_pid = crashed
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (stuck,) = instance.get_runs()
        orphan, unknown, untagged = (_running(client, stuck.run_id), _running(client, "0" * 36),
                                     _running(client, None))
        (leftover,) = [p for p in (state / "assets").iterdir() if p.name != "risk.json"]
        assert leftover.read_text() == "half a record" and not (state / "assets" / "risk.json").exists()

        # a run of another host with the same dead pid is not this host's to judge: untouched
        other_host = _recover_in_run(instance, uri, state, {HOST_TAG: "elsewhere.example", PID_TAG: str(dead_pid)})
        assert other_host.success and other_host.output_for_node("recover_while_running") == (
            "recovered after a crash: 1 stuck run(s) failed, 2 MLflow run(s) marked FAILED, 0 staging file(s) removed")
        # the staging file was fresh (its writer might be alive): kept; untouched for a minute, it is removed
        assert leftover.exists()
        os.utime(leftover, (time.time() - STAGING_GRACE_SECONDS - 1,) * 2)
        again = _recover_in_run(instance, uri, state, launcher_tags())  # this live pid: untouched
        assert again.success and again.output_for_node("recover_while_running") == (
            "recovered after a crash: 0 stuck run(s) failed, 0 MLflow run(s) marked FAILED, 1 staging file(s) removed")
        assert not leftover.exists()

        failed = instance.get_run_by_id(stuck.run_id)
        assert failed.status == dg.DagsterRunStatus.FAILURE
        (event,) = instance.all_logs(stuck.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert f"process {dead_pid} on " in event.message and "is gone (killed or crashed)" in event.message
        runs = {run.run_id: run.status for run in instance.get_runs()}
        assert runs == {stuck.run_id: dg.DagsterRunStatus.FAILURE, other_host.run_id: dg.DagsterRunStatus.SUCCESS,
                        again.run_id: dg.DagsterRunStatus.SUCCESS}
        assert recover_after_crash(instance, uri, [state]) is None  # nothing left: the demo prints nothing

    for run_id, why in ((orphan, f"its Dagster run {stuck.run_id} is FAILURE"),
                        (unknown, f"its Dagster run {'0' * 36} is unknown to the instance")):
        run = client.get_run(run_id)
        assert run.info.status == "FAILED" and why in run.data.tags[RECOVERY_TAG]
    assert client.get_run(untagged).info.status == "RUNNING"  # nothing says whose it is


def test_staging_files_are_removed_and_complete_files_kept(tmp_path):
    state, mlruns = tmp_path / "var", tmp_path / "mlruns"
    pins = mlruns / "model_pins"
    write_once(pins / "run.json", "{}")
    abandoned = [staging_path(state / "feature_store" / "daily" / "_manifest.json"),
                 staging_path(pins / "run.json"), staging_path(state / "alerts.jsonl")]
    kept = [pins / "run.json", state / ".hidden.tmp-notahexsuffix", state / "x.tmp-" f"{'a' * 32}"]
    for path in abandoned + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")
    fresh = staging_path(state / "risk.json")
    for path in abandoned:
        os.utime(path, (time.time() - STAGING_GRACE_SECONDS - 1,) * 2)
    fresh.write_text("a live writer's")

    assert remove_staging_files([state, mlruns, state]) == sorted(abandoned)  # a root given twice: once
    assert all(p.exists() for p in [*kept, fresh]) and not any(p.exists() for p in abandoned)
    assert remove_staging_files([tmp_path / "absent"]) == []


def test_a_missing_mlflow_store_has_nothing_to_recover_and_is_not_created(tmp_path):
    from risk_platform.models.recovery import fail_orphan_runs

    assert fail_orphan_runs(f"sqlite:///{tmp_path / 'mlflow.db'}", lambda run_id: "over") == []
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("name", ["embedded.yaml", "production.yaml", "k8s.yaml"])
def test_the_instances_fail_a_run_stuck_for_hours(name):
    """Under a daemon, a STARTED run whose worker died is failed by Dagster's run monitoring (max runtime: the
    DefaultRunLauncher cannot check a worker's health): longer than any real run, short enough to matter."""
    monitoring = yaml.safe_load((ROOT / "resources" / "instance" / name).read_text())["run_monitoring"]
    assert monitoring["enabled"] is True
    assert 3600 <= monitoring["max_runtime_seconds"] <= 12 * 3600
