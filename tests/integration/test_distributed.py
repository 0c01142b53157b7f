"""The main job on a distributed executor, for real: ``risk_pipeline`` with ``RISK_PLATFORM_EXECUTOR=celery``
against the PostgreSQL-backed production instance, each step a Celery task on a Redis broker, run by two
``dagster-celery`` worker processes (concurrency 1 each).

Redis (``redis-server`` on 127.0.0.1, a free port, no persistence) and PostgreSQL are throwaway servers from the
system binaries, which CI installs (``.ci/run`` -> ``make system-deps``); the workers and the run are separate
processes that share nothing but the environment: the instance (``DAGSTER_HOME``, ``DAGSTER_PG_*``), the broker
and the production locations (``RISK_PLATFORM_*``, MLflow in a temporary SQLite store). Smoke trainings on the
five-series universe of ``test_any_universe_pipeline.py``; about 2 min 40 s on the 2-core reference machine
(15 steps, 7 or 8 per worker).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from mlflow import MlflowClient

from tests.integration.test_any_universe_pipeline import FAMILIES, SMOKE, UNIVERSES, write_universe
from tests.integration.test_postgres_instance import INSTANCE_DIR, postgres  # noqa: F401 (fixture)
from tests.servers import RedisServer, stop_group, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WORKERS = ("risk-worker-1", "risk-worker-2")
QUEUE = "dagster"  # the queue dagster-celery routes execute_plan tasks to (make_app) and the workers consume
RUN_TIMEOUT_S = 600  # the run takes about 2 minutes here
CELERY_WORKER = "Celery worker"  # the metadata of dagster-celery's "Executing steps <key> in celery worker" event


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A throwaway Redis on 127.0.0.1 (no RDB snapshots, no append-only file, its directory a temp dir)."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


def production_environment(data: Path, state: Path, home: Path, pg: dict[str, str], broker: str) -> dict[str, str]:
    """What every process of the distributed run reads: the instance, the executor and the production
    locations (the variables ``production_resources()`` reads), all under the test's temporary folders."""
    return {
        "DAGSTER_HOME": str(home), **pg,
        "RISK_PLATFORM_EXECUTOR": "celery", "DAGSTER_CELERY_BROKER_URL": broker, "DAGSTER_CELERY_BACKEND_URL": broker,
        "RISK_PLATFORM_ENV": "production",
        "RISK_PLATFORM_PRICES": str(data / "prices"), "RISK_PLATFORM_INSTRUMENTS": str(data / "instruments.csv"),
        "RISK_PLATFORM_POSITIONS": str(data / "book.yaml"), "RISK_PLATFORM_LIMITS": str(data / "limits.yaml"),
        "RISK_PLATFORM_EXPECTATIONS_DIR": str(REPO / "expectations"),
        "RISK_PLATFORM_QUARANTINE_DIR": str(state / "quarantine"),
        "RISK_PLATFORM_VALIDATIONS_DIR": str(state / "gx_validations"),
        "RISK_PLATFORM_FEATURE_STORE": str(state / "feature_store"),
        "RISK_PLATFORM_ASSET_STORE": str(state / "assets"), "RISK_PLATFORM_LINEAGE_DIR": str(state / "lineage"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlruns' / 'mlflow.db'}",
        "RISK_PLATFORM_ALIAS_AUDIT_LOG": str(state / "mlruns" / "alias_audit.jsonl"),
        "RISK_PLATFORM_ALERT_LOG": str(state / "alerts" / "alerts.jsonl"),
        "RISK_PLATFORM_LANDING_PRICES": str(state / "landing" / "prices"),
        "RISK_PLATFORM_LANDING_POSITIONS": str(state / "landing" / "positions"),
        "RISK_PLATFORM_MONITOR_STATE": str(state / "monitor"),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


def process_environment(extra: dict[str, str]) -> dict[str, str]:
    """This environment plus ``extra``, with this interpreter's scripts first on PATH (dagster-celery starts
    ``celery`` by name) and the checkout importable (the workers load ``risk_platform.definitions``)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RISK_PLATFORM_", "DAGSTER_"))}
    env.update(extra)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def start_worker(name: str, env: dict[str, str], folder: Path) -> tuple[subprocess.Popen, Path]:
    log = folder / f"{name}.log"
    command = [str(Path(sys.executable).parent / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
               "-y", str(INSTANCE_DIR / "celery.yaml"), "-q", QUEUE, "-n", name, "--loglevel", "INFO",
               "--", "--concurrency", "1", "--without-gossip", "--without-mingle"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return process, log


def test_the_main_job_runs_on_two_celery_workers_and_records_in_postgres(redis_url, postgres, tmp_path,  # noqa: F811
                                                                        monkeypatch):
    pytest.importorskip("dagster_celery", reason="the distributed extra: pip install -e '.[distributed]'")
    started = time.monotonic()
    data = tmp_path / "data"
    write_universe(UNIVERSES[0], data)  # five series 2012-2021 and a book on them
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(INSTANCE_DIR / "production.yaml", home / "dagster.yaml")
    settings = production_environment(data, tmp_path / "state", home, postgres, redis_url)
    env = process_environment(settings)
    # the MLflow store is created once, before processes share it (production: `mlflow db upgrade`, as in
    # resources/instance/mlflow_server.md); two workers creating a fresh SQLite store at once race in its migrations
    (tmp_path / "state" / "mlruns").mkdir(parents=True)
    MlflowClient(settings["MLFLOW_TRACKING_URI"]).search_experiments()
    # the Dagster instance's schema likewise, once (production: `dagster instance migrate`): two workers opening a
    # fresh PostgreSQL instance at once race in creating its tables ("type runs already exists")
    subprocess.run([str(Path(sys.executable).parent / "dagster"), "instance", "migrate"], env=env, check=True,
                   capture_output=True, timeout=300)
    work = tmp_path / "work"  # the workers' working directory: MLflow's default artifact root (./mlruns) lands here
    work.mkdir()

    workers = {}
    try:
        for name in WORKERS:
            workers[name] = start_worker(name, env, work)
        for name, (process, log) in workers.items():
            wait_for(lambda log=log, process=process: " ready." in log.read_text() or process.poll() is not None,
                     180, f"celery worker {name} ready", [log])
            assert process.poll() is None, f"worker {name} exited {process.returncode}:\n{log.read_text()[-3000:]}"

        smoke = {"ops": {f"{family}_model": {"config": SMOKE} for family in FAMILIES}}
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(smoke))
        run_log = tmp_path / "run.log"
        with run_log.open("w") as out:  # the run's own process: `dagster job execute` on the instance
            launcher = subprocess.run(
                [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "risk_platform.definitions",
                 "-a", "defs", "-j", "risk_pipeline", "-c", str(tmp_path / "run.yaml")],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_S)
        worker_logs = "\n".join(f"--- {name}:\n{log.read_text()[-2000:]}" for name, (_, log) in workers.items())
        assert launcher.returncode == 0, f"{run_log.read_text()[-4000:]}\n{worker_logs}"

        for key, value in settings.items():  # read back through the instance, as the launcher wrote it
            monkeypatch.setenv(key, value)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            from dagster_postgres import PostgresEventLogStorage

            assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
            (run,) = instance.get_runs(dg.RunsFilter(job_name="risk_pipeline"))
            assert run.status == dg.DagsterRunStatus.SUCCESS
            events = instance.all_logs(run.run_id)
            # the worker that took each step (dagster-celery's engine event) and the process that ran it
            taken_by = {e.dagster_event.step_key: e.dagster_event.engine_event_data.metadata[CELERY_WORKER].value
                        for e in events if e.is_dagster_event and e.dagster_event.is_engine_event
                        and CELERY_WORKER in e.dagster_event.engine_event_data.metadata}
            step_pids = {e.step_key: e.dagster_event.pid for e in events
                         if e.is_dagster_event and e.dagster_event_type == dg.DagsterEventType.STEP_START}
            successes = {e.step_key for e in events
                         if e.is_dagster_event and e.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS}
            materialized = {e.dagster_event.asset_key.to_user_string() for e in events
                            if e.is_dagster_event and e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION}
            worker_groups = {name: process.pid for name, (process, _) in workers.items()}
            group_of = {step: _process_group(pid) for step, pid in step_pids.items()}

        elapsed = time.monotonic() - started
        by_worker = {name: sorted(s for s, host in taken_by.items() if host.startswith(f"{name}@"))
                     for name in WORKERS}
        print(f"\ndistributed risk_pipeline: {len(step_pids)} steps in {elapsed:.0f} s; {by_worker}")
        assert {"raw_prices", "market_panel", "returns", "lstm_vol_model", "portfolio_risk"} <= materialized
        assert step_pids and set(step_pids) == successes == set(taken_by), (sorted(step_pids), sorted(taken_by))
        assert all(by_worker.values()), f"both workers take steps: {by_worker}"
        assert sum(map(len, by_worker.values())) == len(step_pids)  # and nothing else did
        for step, pid in step_pids.items():  # each step ran inside the worker that took it, not here or the launcher
            assert pid != os.getpid(), step
            worker = taken_by[step].split("@")[0]
            assert group_of[step] == worker_groups[worker], (step, pid, worker)
    finally:
        for process, _ in workers.values():
            stop_group(process)


def _process_group(pid: int | None) -> int | None:
    """The process group of ``pid`` (a worker's: each was started in its own session; its pool process lives as
    long as the worker), None when it has ended."""
    try:
        return os.getpgid(pid) if pid else None
    except ProcessLookupError:
        return None


def test_the_executor_comes_from_the_environment_and_only_the_default_one_runs_steps_in_process(monkeypatch):
    pytest.importorskip("dagster_celery", reason="the distributed extra: pip install -e '.[distributed]'")
    from jobs.launch import IN_PROCESS, with_in_process_steps
    from resources import executor_for_env
    from risk_platform.errors import InputError

    @dg.asset
    def one() -> int:
        return 1

    def job_on(executor: dg.ExecutorDefinition) -> dg.JobDefinition:
        job = dg.define_asset_job("one_job", selection=[one])
        return dg.Definitions(assets=[one], jobs=[job], executor=executor).resolve_job_def("one_job")

    monkeypatch.delenv("RISK_PLATFORM_EXECUTOR", raising=False)
    assert executor_for_env() is dg.multi_or_in_process_executor
    assert with_in_process_steps(job_on(executor_for_env()), {"ops": {}}) == {"ops": {}, **IN_PROCESS}
    monkeypatch.setenv("RISK_PLATFORM_EXECUTOR", "celery")
    celery = job_on(executor_for_env())
    assert celery.executor_def.name == "celery"
    assert with_in_process_steps(celery, {"ops": {}}) == {"ops": {}}  # the workers run the steps
    monkeypatch.setenv("RISK_PLATFORM_EXECUTOR", "k8s")
    with pytest.raises(InputError, match="RISK_PLATFORM_EXECUTOR must be 'multiprocess' or 'celery', got 'k8s'"):
        executor_for_env()


def test_the_workers_read_the_executors_broker_from_celery_yaml(monkeypatch):
    """dagster-celery reads a worker's broker under ``execution.config``; anywhere else in the file the worker
    silently falls back to ``amqp://guest@localhost:5672`` and never sees the tasks queued in Redis."""
    pytest.importorskip("dagster_celery", reason="the distributed extra: pip install -e '.[distributed]'")
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://127.0.0.1:6379/1")
    config = get_validated_config(str(INSTANCE_DIR / "celery.yaml"))
    assert (config["broker"], config["backend"]) == ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1")
