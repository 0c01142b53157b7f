"""The production Dagster instance (resources/instance/production.yaml) against a real, throwaway PostgreSQL.

The server is started from the system binaries (``/usr/lib/postgresql/<v>/bin``) in a temporary directory, on
127.0.0.1 and a free port; as root it runs as the ``postgres`` user (``initdb`` refuses root). CI installs the
binaries before ``make test`` (``.ci/run`` -> ``make system-deps``), so there this test never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from assets import ALL_ASSETS, DATA_GROUPS
from resources import embedded_resources
from tests.servers import free_port

pytestmark = pytest.mark.integration

INSTANCE_DIR = Path(__file__).resolve().parents[2] / "resources" / "instance"
PG_ENV = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD")
RETRAIN_TAG = {"key": "risk_platform/job", "value": "retrain", "limit": 1}


def postgres_bindir() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (``RISK_PLATFORM_PG_BIN`` overrides)."""
    override = os.environ.get("RISK_PLATFORM_PG_BIN")
    candidates = [Path(override)] if override else []
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                      if p.parent.name.isdigit() else 0, reverse=True)
    candidates += versions
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


class ThrowawayPostgres:
    """initdb + pg_ctl in a temp dir; as root every server command runs as the ``postgres`` user."""

    superuser = "postgres"

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="risk-platform-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = "superuser-" + os.urandom(8).hex()
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
            try:
                shutil.chown(self.root, "postgres", "postgres")
            except LookupError:
                pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [*self.as_postgres, *args]
        done = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{tail}")

    def start(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.superuser, f"--pwfile={pwfile}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        pwfile.unlink()
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start", timeout=90)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, dbname: str = "postgres", user: str | None = None, password: str | None = None):
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, dbname=dbname, user=user or self.superuser,
                                password=password or self.password, connect_timeout=10)


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A running PostgreSQL with an empty ``dagster`` database owned by a non-superuser role; yields the
    DAGSTER_PG_* environment that production.yaml reads."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql; CI does: make system-deps)")
    server = ThrowawayPostgres(bindir)
    try:
        server.start()
        env = {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(server.port), "DAGSTER_PG_DB": "dagster",
               "DAGSTER_PG_USERNAME": "risk_dagster", "DAGSTER_PG_PASSWORD": "dagster-" + os.urandom(8).hex()}
        conn = server.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE risk_dagster LOGIN PASSWORD '{env['DAGSTER_PG_PASSWORD']}'")
            cur.execute("CREATE DATABASE dagster OWNER risk_dagster")
        conn.close()
        yield env
    finally:
        server.stop()


def load_instance_yaml(name: str) -> dict:
    return yaml.safe_load((INSTANCE_DIR / name).read_text())


def test_production_yaml_takes_every_credential_from_the_environment():
    config = load_instance_yaml("production.yaml")
    db = config["storage"]["postgres"]["postgres_db"]
    assert db.pop("scheme") == "postgresql+psycopg2"
    assert {key: value["env"] for key, value in db.items()} == {
        "hostname": "DAGSTER_PG_HOST", "port": "DAGSTER_PG_PORT", "db_name": "DAGSTER_PG_DB",
        "username": "DAGSTER_PG_USERNAME", "password": "DAGSTER_PG_PASSWORD"}
    assert config["telemetry"] == {"enabled": False} and config["nux"] == {"enabled": False}
    # k8s.yaml is the same instance with another run launcher
    k8s = load_instance_yaml("k8s.yaml")
    for section in ("storage", "run_coordinator", "run_monitoring", "run_retries", "telemetry", "nux"):
        assert k8s[section] == load_instance_yaml("production.yaml")[section], section
    assert k8s["run_launcher"]["class"] == "K8sRunLauncher" and k8s["run_launcher"]["module"] == "dagster_k8s"


def test_k8s_yaml_documents_every_variable_the_production_resources_read(monkeypatch):
    import resources

    monkeypatch.setenv(resources.WEBHOOK_ENV, "https://alerts.example/hook")  # the optional one
    names = {str(value.env_var_name) for resource in resources.production_resources().values()
             for value in vars(resource).values() if isinstance(value, dg.EnvVar)}
    assert "MLFLOW_TRACKING_URI" in names and resources.WEBHOOK_ENV in names
    documented = (INSTANCE_DIR / "k8s.yaml").read_text()
    missing = sorted(name for name in names | set(PG_ENV) if name not in documented)
    assert not missing, f"add to the risk-platform-env ConfigMap list in resources/instance/k8s.yaml: {missing}"


def test_the_pipeline_on_the_postgres_instance_records_runs_and_events_in_postgres(postgres, tmp_path, monkeypatch):
    for key, value in postgres.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    # the file as shipped: credentials resolve from the DAGSTER_PG_* variables set above
    shutil.copy(INSTANCE_DIR / "production.yaml", home / "dagster.yaml")
    job = dg.define_asset_job("data_pipeline", selection=dg.AssetSelection.groups(*DATA_GROUPS),
                              executor_def=dg.in_process_executor)
    defs = dg.Definitions(assets=ALL_ASSETS, jobs=[job], resources=embedded_resources(tmp_path / "state"))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        from dagster._core.run_coordinator import QueuedRunCoordinator
        from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 4
        assert RETRAIN_TAG in queue.tag_concurrency_limits
        assert {"key": "risk_platform/job", "value": "intraday", "limit": 1} in queue.tag_concurrency_limits
        result = defs.resolve_job_def("data_pipeline").execute_in_process(instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS

    # read back with plain SQL, as the application role, nothing Dagster in between
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=int(postgres["DAGSTER_PG_PORT"]), dbname="dagster",
                          user="risk_dagster", password=postgres["DAGSTER_PG_PASSWORD"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT pipeline_name, status FROM runs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchall() == [("data_pipeline", "SUCCESS")]
        cur.execute("SELECT DISTINCT asset_key FROM event_logs WHERE run_id = %s "
                    "AND dagster_event_type = 'ASSET_MATERIALIZATION'", (result.run_id,))
        materialized = {dg.AssetKey.from_db_string(row[0]).to_user_string() for row in cur.fetchall()}
        assert {"raw_prices", "market_panel", "feed_quality", "returns", "daily_features",
                "portfolio", "portfolio_risk"} <= materialized
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = "
                    "'ASSET_CHECK_EVALUATION'", (result.run_id,))
        assert cur.fetchone()[0] >= 2  # missing_data_gate, all_positions_valued
        # run-level events keep their legacy PIPELINE_* names in the column
        cur.execute("SELECT dagster_event_type FROM event_logs WHERE run_id = %s AND dagster_event_type LIKE "
                    "'%%_SUCCESS' AND step_key IS NULL", (result.run_id,))
        assert {row[0] for row in cur.fetchall()} & {"RUN_SUCCESS", "PIPELINE_SUCCESS"}
