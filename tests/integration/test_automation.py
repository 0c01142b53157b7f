"""Limits, alerts, schedules and sensors through Dagster: sensor evaluations against a real instance, the
risk_limits asset in a temporary state directory, and a dropped prices file flowing through to new risk
figures and an alert."""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets import ALL_ASSETS
from jobs import JOBS, SCHEDULES, SENSORS
from jobs.schedules import training_run_config
from jobs.sensors import model_alias_change, model_drift_retrain, new_market_data_file, new_positions_file
from resources import AlertSinkResource, LandingResource, MlflowResource, RiskLimitsResource, embedded_resources
from risk_platform import paths
from risk_platform.alerts import read_alerts
from risk_platform.families import MODEL_NAMES

pytestmark = pytest.mark.integration
MODEL_OPS = {"lstm_vol_model", "gnn_corr_model", "gan_scenarios_model", "vae_scenarios_model"}
TIGHT_LIMITS = """
version: 1
limits:
  - {name: var_99_pct_nav, family: var, metric: var_99, scale: pct_nav, warn: 0.25, breach: 0.5, severity: error}
  - {name: es_99_pct_nav, family: es, metric: es_99, scale: pct_nav, warn: 20, breach: 25, severity: error}
  - {name: hhi, family: concentration, metric: herfindahl_index, breach: 0.9, severity: warn}
  - {name: days_to_liquidate, family: liquidity, metric: days_to_liquidate_portfolio, breach: 5}
"""


def check(result, name):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def tick(sensor, instance, cursor, resources):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return sensor.evaluate_tick(context)


# ---------------------------------------------------------------------------------------------- schedules


def test_schedules_cron_strings_timezone_and_jobs():
    schedules = {s.name: s for s in SCHEDULES}
    intraday = schedules["intraday_risk_every_15_minutes"]
    assert intraday.cron_schedule == ["*/15 8-16 * * 1-5", "0 17 * * 1-5"] and intraday.job_name == "intraday_risk"
    eod = schedules["end_of_day_risk_pipeline"]
    assert (eod.cron_schedule, eod.job_name) == ("30 18 * * 1-5", "risk_pipeline")
    weekly = schedules["weekly_model_retraining"]
    assert (weekly.cron_schedule, weekly.job_name) == ("0 6 * * 6", "retrain_models")
    assert {s.execution_timezone for s in SCHEDULES} == {"America/New_York"}
    (request,) = weekly.evaluate_tick(dg.build_schedule_context()).run_requests
    assert request.run_config == training_run_config("full")
    assert set(request.run_config["ops"]) == MODEL_OPS
    assert {c["config"]["preset"] for c in request.run_config["ops"].values()} == {"full"}


def test_definitions_carry_schedules_sensors_retries_and_the_retrain_tag():
    from risk_platform.definitions import defs

    assert {s.name for s in defs.schedules} == {s.name for s in SCHEDULES}
    assert {s.name for s in defs.sensors} == {s.name for s in SENSORS}
    retrain = defs.resolve_job_def("retrain_models")
    assert retrain.run_tags["risk_platform/job"] == "retrain"  # QueuedRunCoordinator tag limit 1
    intraday = defs.resolve_job_def("intraday_risk")
    keys = {k.to_user_string() for k in intraday.asset_layer.executable_asset_keys}
    assert keys == {"portfolio", "portfolio_risk", "risk_limits"}
    assert intraday.op_retry_policy.max_retries == 2
    assert intraday.run_tags["risk_platform/job"] == "intraday"  # tag limit 1: recomputes run in order
    weekly = defs.resolve_schedule_def("weekly_model_retraining")
    assert dg.validate_run_config(retrain, weekly.evaluate_tick(dg.build_schedule_context()).run_requests[0].run_config)
    graph = defs.resolve_asset_graph()
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == dg.AssetKey("risk_limits")}
    assert checks == {"var_limits", "es_limits", "concentration_limits", "liquidity_limits", "regime_limits"}
    assert not any(graph.get_check_spec(k).blocking for k in graph.asset_check_keys
                   if k.asset_key == dg.AssetKey("risk_limits"))


# ---------------------------------------------------------------------------------------------- sensors


def test_a_dropped_prices_file_yields_exactly_one_run_request(tmp_path):
    resources = embedded_resources(tmp_path)
    resources["landing"] = LandingResource(prices_dir=str(tmp_path / "prices"), positions_dir=str(tmp_path / "pos"))
    instance = dg.DagsterInstance.ephemeral()
    empty = tick(new_market_data_file, instance, None, resources)
    assert not empty.run_requests and "no new prices file" in empty.skip_message
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / ".prices_2025-01-02.csv.tmp-123").write_text("partial")  # an atomic write in progress
    (folder / "prices_2025-01-02.csv").write_text("date,symbol,value\n2025-01-02,SPX,5900\n")
    first = tick(new_market_data_file, instance, empty.cursor, resources)
    (request,) = first.run_requests
    assert request.run_key.startswith("prices:prices_2025-01-02.csv@")
    market = request.run_config["resources"]["market_data"]["config"]
    assert market == {**resources["market_data"].model_dump(exclude_none=True), "prices_path": str(folder)}
    assert request.tags["risk_platform/files"] == "prices_2025-01-02.csv"
    second = tick(new_market_data_file, instance, first.cursor, resources)
    assert not second.run_requests
    # the same name delivered again (new content) is a new delivery
    os.utime(folder / "prices_2025-01-02.csv", ns=(time.time_ns(), time.time_ns() + 10**9))
    (again,) = tick(new_market_data_file, instance, second.cursor, resources).run_requests
    assert again.run_key != request.run_key


def test_a_new_positions_file_runs_risk_on_that_file(tmp_path):
    folder = tmp_path / "positions"
    folder.mkdir()
    resources = embedded_resources(tmp_path)
    resources["landing"] = LandingResource(prices_dir=str(tmp_path / "prices"), positions_dir=str(folder))
    instance = dg.DagsterInstance.ephemeral()
    baseline = tick(new_positions_file, instance, None, resources)
    assert not baseline.run_requests
    (folder / "book_2025-01-02.yaml").write_text(paths.SAMPLE_PORTFOLIO.read_text())
    (folder / "notes.txt").write_text("not a positions file")
    first = tick(new_positions_file, instance, baseline.cursor, resources)
    (request,) = first.run_requests
    assert request.run_config["resources"]["portfolio_source"]["config"]["positions_path"] == str(
        folder / "book_2025-01-02.yaml")
    assert not tick(new_positions_file, instance, first.cursor, resources).run_requests
    from risk_platform.definitions import defs

    assert dg.validate_run_config(defs.resolve_job_def("intraday_risk"), request.run_config)


class _Registry:
    """The registry as the sensor sees it (``registry_alias_map(model_key)``), without creating an MLflow store: the
    real round trip is covered by tests/integration/test_models.py and tests/unit/models/test_alias_audit.py."""

    aliases_by_model: dict = {}

    def registry_alias_map(self, model_key):
        return dict(self.aliases_by_model.get(model_key, {}))


class _RegistryStub(MlflowResource):
    def registry(self):
        return _Registry()


def test_an_alias_move_in_the_registry_yields_one_recompute():
    _Registry.aliases_by_model = {"lstm_vol": {"current": "1", "experimental": "2"}}
    resources = {"mlflow": _RegistryStub(tracking_uri="unused", audit_log="unused")}
    instance = dg.DagsterInstance.ephemeral()
    baseline = tick(model_alias_change, instance, None, resources)
    assert not baseline.run_requests
    assert json.loads(baseline.cursor)["aliases"] == {"lstm_vol": {"current": "1", "experimental": "2"},
                                                      **{k: {} for k in MODEL_NAMES if k != "lstm_vol"}}
    assert not tick(model_alias_change, instance, baseline.cursor, resources).run_requests
    _Registry.aliases_by_model = {"lstm_vol": {"current": "2", "experimental": "2"}, "gnn_corr": {"stable": "1"}}
    moved = tick(model_alias_change, instance, baseline.cursor, resources)
    (request,) = moved.run_requests
    assert request.run_key.startswith("aliases:1:") and request.tags["risk_platform/models"] == "gnn_corr,lstm_vol"
    assert not tick(model_alias_change, instance, moved.cursor, resources).run_requests
    _Registry.aliases_by_model = {"lstm_vol": {"current": "1", "experimental": "2"}}  # back: a new change
    (back,) = tick(model_alias_change, instance, moved.cursor, resources).run_requests
    assert back.run_key.startswith("aliases:2:") and back.run_key != request.run_key


def test_a_drift_breach_requests_one_retraining(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    assert not tick(model_drift_retrain, instance, None, {}).run_requests
    instance.report_runless_asset_event(dg.AssetMaterialization(
        "model_monitoring", metadata={"drift_breach": False, "model_key": "gnn_corr"}))
    calm = tick(model_drift_retrain, instance, None, {})
    assert not calm.run_requests and "no drift breach" in calm.skip_message
    instance.report_runless_asset_event(dg.AssetMaterialization(
        "model_monitoring", metadata={"drift_breach": True, "model_key": "lstm_vol"}))
    instance.report_runless_asset_event(dg.AssetMaterialization(  # a clean result after it: still seen
        "model_monitoring", metadata={"drift_breach": False, "model_key": "gnn_corr"}))
    drift = tick(model_drift_retrain, instance, calm.cursor, {})
    (request,) = drift.run_requests
    breach = instance.fetch_materializations(dg.AssetKey("model_monitoring"), limit=3).records[1]
    assert request.run_key == f"drift:{breach.storage_id}"
    assert request.tags["risk_platform/drift_models"] == "lstm_vol"
    assert request.run_config == training_run_config("full")
    assert not tick(model_drift_retrain, instance, drift.cursor, {}).run_requests


# ---------------------------------------------------------------------------------------------- limits asset


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server API)
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_url():
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/alerts"
    server.shutdown()
    server.server_close()


def tight_resources(state: Path, webhook_url: str | None = None) -> dict:
    limits = state / "tight_limits.yaml"
    limits.parent.mkdir(parents=True, exist_ok=True)
    limits.write_text(TIGHT_LIMITS)
    resources = embedded_resources(state)
    resources["limits_source"] = RiskLimitsResource(limits_path=str(limits))
    resources["alert_sink"] = AlertSinkResource(jsonl_path=str(state / "alerts" / "alerts.jsonl"),
                                                webhook_url=webhook_url)
    return resources


def test_a_tight_limit_fails_its_check_with_error_and_writes_an_alert(tmp_path, webhook_url):
    report = {"portfolio": "Multi-asset macro sample book", "asof": "2024-12-31", "nav": 500e6, "var_99": 5.71e6,
              "es_99": 7.14e6, "herfindahl_index": 0.0865,
              "bound_by": {"var_99": "historical_simulation(500d)", "es_99": "historical_simulation(500d)"}}
    stored = tmp_path / "assets" / "portfolio_risk.json"  # what the IO manager holds from an earlier run
    stored.parent.mkdir(parents=True)
    stored.write_text(json.dumps(report))
    result = dg.materialize(ALL_ASSETS, selection=["risk_limits"], resources=tight_resources(tmp_path, webhook_url),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success  # checks are not blocking: the figures are published, the breach is flagged
    var = check(result, "var_limits")
    assert not var.passed and var.severity == dg.AssetCheckSeverity.ERROR
    assert var.metadata["var_99_pct_nav.figure"].value == pytest.approx(1.142)
    assert var.metadata["var_99_pct_nav.threshold"].value == 0.5
    assert var.metadata["model_versions"].value == {"var_99_pct_nav": "historical_simulation(500d)"}
    assert check(result, "es_limits").passed and check(result, "concentration_limits").passed
    liquidity = check(result, "liquidity_limits")
    assert liquidity.passed and liquidity.metadata["days_to_liquidate.status"].value == "not_evaluated"
    (alert,) = read_alerts(tmp_path / "alerts" / "alerts.jsonl")
    assert (alert["limit"], alert["status"], alert["severity"], alert["threshold"]) == ("var_99_pct_nav", "breach",
                                                                                        "error", 0.5)
    assert alert["figure"] == pytest.approx(1.142) and alert["utilisation"] == pytest.approx(2.284)
    assert alert["dagster_run_id"] == result.run_id and alert["asof"] == "2024-12-31"
    assert alert["model_versions"] == "historical_simulation(500d)"
    assert _Hook.received == [{"alerts": [alert]}]
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["breach"].value == 1 and meta["webhook"].value == "delivered"


# ---------------------------------------------------------------------------------------------- end to end


def test_a_dropped_prices_file_flows_to_new_risk_figures_and_an_alert(tmp_path):
    """Landing folder -> sensor -> ingest_and_risk run -> risk as of the dropped data -> alert; then the
    intraday job alone on the stored upstream values."""
    state = tmp_path / "state"
    resources = tight_resources(state)
    defs = dg.Definitions(assets=ALL_ASSETS, jobs=JOBS, sensors=SENSORS, resources=resources)
    instance = dg.DagsterInstance.ephemeral()
    sensor = defs.resolve_sensor_def("new_market_data_file")
    landing = Path(resources["landing"].prices_dir)
    baseline = tick(sensor, instance, None, resources)
    assert not baseline.run_requests

    prices = pd.read_csv(paths.BUNDLED_PRICES, dtype=str, keep_default_na=False)
    landing.mkdir(parents=True)
    prices[prices["date"] <= "2024-12-20"].to_csv(landing / "vendor_prices_2024-12-20.csv", index=False)
    evaluation = tick(sensor, instance, baseline.cursor, resources)
    (request,) = evaluation.run_requests
    assert not tick(sensor, instance, evaluation.cursor, resources).run_requests

    job = defs.resolve_job_def(request.job_name or sensor.job_name)
    started = time.perf_counter()
    result = job.execute_in_process(run_config=request.run_config, tags=request.tags, instance=instance)
    ingest_s = time.perf_counter() - started
    assert result.success
    raw_meta = next(e for e in result.get_asset_materialization_events()
                    if e.asset_key == dg.AssetKey("raw_prices")).materialization.metadata
    assert raw_meta["last_date"].value == "2024-12-20"
    assert [r.data["file"] for r in raw_meta["files"].value.records] == [str(landing / "vendor_prices_2024-12-20.csv")]
    report = result.output_for_node("portfolio_risk")
    assert report["asof"] == "2024-12-20" and report["var_99"] > 0  # not the bundled panel's 2024-12-31
    assert not check(result, "var_limits").passed and check(result, "var_limits").severity.value == "ERROR"
    (alert,) = read_alerts(state / "alerts" / "alerts.jsonl")
    assert alert["dagster_run_id"] == result.run_id and alert["asof"] == "2024-12-20"
    assert alert["figure"] == pytest.approx(100 * report["var_99"] / report["nav"])

    started = time.perf_counter()
    intraday = defs.resolve_job_def("intraday_risk").execute_in_process(instance=instance)
    intraday_s = time.perf_counter() - started
    assert intraday.success and intraday.output_for_node("portfolio_risk")["asof"] == "2024-12-20"
    assert not check(intraday, "var_limits").passed  # the check fails on every run...
    assert len(read_alerts(state / "alerts" / "alerts.jsonl")) == 1  # ...the open alert is not sent again
    limits_meta = next(e for e in intraday.get_asset_materialization_events()
                       if e.asset_key == dg.AssetKey("risk_limits")).materialization.metadata
    assert limits_meta["alerts_suppressed"].value == 1 and limits_meta["alert_events"].value == "none"
    print(f"ingest_and_risk {ingest_s:.1f} s, intraday_risk {intraday_s:.1f} s")


def test_a_new_model_version_is_validated_on_every_window_then_promoted():
    from jobs.sensors import WINDOW_ASSETS, validate_new_model_versions
    from risk_platform.crisis_windows import WINDOW_KEYS
    from risk_platform.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    repository = defs.get_repository_def()

    def tick(sensor, instance, cursor, resources):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                          repository_def=repository)
        return sensor.evaluate_tick(context)

    assert not tick(validate_new_model_versions, instance, None, {}).run_requests
    instance.report_runless_asset_event(dg.AssetMaterialization("lstm_vol_model"))
    first = tick(validate_new_model_versions, instance, None, {}).run_requests
    assert sorted(r.partition_key for r in first) == sorted(WINDOW_KEYS)
    assert {r.job_name for r in first} == {"crisis_validation"} and len({r.run_key for r in first}) == 7
    for window in WINDOW_KEYS[:5]:
        for key in WINDOW_ASSETS:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=window))
    rest = tick(validate_new_model_versions, instance, None, {}).run_requests
    assert sorted(r.partition_key for r in rest) == sorted(WINDOW_KEYS[5:])
    assert {r.run_key for r in rest} <= {r.run_key for r in first}  # same keys: never submitted twice
    for window in WINDOW_KEYS[5:]:
        for key in WINDOW_ASSETS:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=window))
    (promote,) = tick(validate_new_model_versions, instance, None, {}).run_requests
    assert promote.job_name == "promote_models" and promote.run_key.startswith("promote:")


def test_a_registry_outage_is_not_an_alias_move_and_risk_runs_without_models(monkeypatch):
    """A tracking server that does not answer: the registry says so (RegistryUnavailable), the alias sensor
    skips the tick with the cursor unchanged, and the risk inputs carry a note instead of models."""
    import socket

    from risk_platform.errors import RegistryUnavailable
    from risk_platform.models.inference import aliased_model_inputs
    from risk_platform.models.registry import ModelRegistry

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(RegistryUnavailable, match="unreadable"):
        ModelRegistry(uri).aliases("lstm_vol")
    resources = {"mlflow": MlflowResource(tracking_uri=uri, audit_log="unused")}
    cursor = json.dumps({"aliases": {k: {} for k in MODEL_NAMES}, "changes": 0}, sort_keys=True)
    context = dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), cursor=cursor, resources=resources)
    evaluation = model_alias_change.evaluate_tick(context)
    assert not evaluation.run_requests and "unreadable" in evaluation.skip_message
    assert evaluation.cursor in (None, cursor)
    inputs = aliased_model_inputs(ModelRegistry(uri), daily=None, model_keys=tuple(MODEL_NAMES))
    assert inputs.inputs == [] and inputs.aliases == {} and "non-model methods only" in inputs.notes[0]
