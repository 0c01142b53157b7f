"""Faults degrade loudly and narrowly: torn append-only logs, corrupt model artifacts, an emptied registry."""

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import pytest

from risk_platform.alerts import AlertSink, check_limits, read_alerts
from risk_platform.errors import ComputationError, InputError, RegistryUnavailable
from risk_platform.io import TornLineWarning, append_line, read_json_lines
from risk_platform.lineage import LineageRecord, LineageStore
from risk_platform.models.audit import AuditLog, AuditRecord
from risk_platform.models.governance import move_alias
from risk_platform.models.guardrails import OverrideLog, OverrideRecord
from risk_platform.models.inference import aliased_model_inputs, load_or_note
from risk_platform.models.names import ARTIFACT_HASH_TAG
from risk_platform.models.registry import ModelRegistry, RegisteredVersion
from risk_platform.risk.limits import parse_limits
from tests.registered_models import register_tiny_generator

LIMITS = parse_limits({"limits": [
    {"name": "var99", "family": "var", "metric": "var_99", "scale": "pct_nav", "warn": 1.5, "breach": 2.0}]})
REPORT = {"portfolio": "Test book", "asof": "2024-12-31", "nav": 100e6, "var_99": 2.5e6, "bound_by": {}}
BREACHED = {**REPORT, "var_99": 1.0e6}  # below the warning: the open episode clears


def _tear(path):
    """A writer killed mid-write: the file ends in part of a record, with no newline."""
    whole = path.read_bytes().splitlines(keepends=True)[-1]
    with open(path, "ab") as handle:
        handle.write(whole[: len(whole) // 2])


def _torn_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, TornLineWarning)]


def test_a_torn_last_line_in_the_alert_log_no_longer_stops_the_limit_checks(tmp_path):
    sink = AlertSink(tmp_path / "alerts.jsonl")
    assert [a.event for a in check_limits(REPORT, LIMITS, sink, run_id="run-1").alerts] == ["opened"]
    _tear(sink.jsonl_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cleared = check_limits(BREACHED, LIMITS, sink, run_id="run-2")  # read the log, then append after the tear
        records = read_alerts(sink.jsonl_path)
    assert [a.event for a in cleared.alerts] == ["cleared"]
    assert [(r["dagster_run_id"], r["event"]) for r in records] == [("run-1", "opened"), ("run-2", "cleared")]
    lines = sink.jsonl_path.read_text().split("\n")
    assert lines[2] == "" and json.loads(lines[3])["event"] == "cleared"  # the record is on its own line
    assert set(_torn_warnings(caught)) == {f"{sink.jsonl_path} line 2: torn line (partly written record) skipped"}


RUN_ID = "0123abcd-0001"  # a run id as lineage accepts them (hex digits and hyphens)
AUDIT = AuditRecord("2026-01-05T00:00:00+00:00", "alias_move", "lstm_vol", "current", None, "1", "gates", None, "ci")
OVERRIDE = OverrideRecord("2026-01-05T00:00:00+00:00", "lstm_vol", "1", "SPX", "2026-01-02", 2.5, "Ann", "checked")
LINEAGE = LineageRecord(RUN_ID, "portfolio_risk", ["portfolio"], {"var_99": 1.0}, "abc", "2026-01-05")


@pytest.mark.parametrize("log, record, read", [
    (lambda p: AuditLog(p), AUDIT, lambda p: AuditLog(p).records()),
    (lambda p: OverrideLog(p), OVERRIDE, lambda p: OverrideLog(p).records()),
    (lambda p: LineageStore(p.parent), LINEAGE, lambda p: LineageStore(p.parent).records(RUN_ID)),
], ids=["alias_audit", "overrides", "lineage"])
def test_every_log_keeps_its_whole_records_around_a_torn_line(tmp_path, log, record, read):
    path = tmp_path / f"{RUN_ID}.jsonl"  # the lineage store names its files by run id
    writer = log(path)
    append = writer.append if hasattr(writer, "append") else writer.record
    append(record)
    _tear(path)
    with pytest.warns(TornLineWarning, match=f"{path} line 2: torn line"):
        assert read(path) == [record]
    append(record)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read(path) == [record, record]
    assert _torn_warnings(caught) == [f"{path} line 2: torn line (partly written record) skipped"]


def test_a_bad_line_that_is_not_a_torn_tail_names_file_and_line(tmp_path):
    path = tmp_path / "log.jsonl"
    append_line(path, json.dumps({"a": 1}))
    with open(path, "a") as handle:
        handle.write('{"a": 2\n')  # a whole line (it has its newline), but not JSON
    append_line(path, json.dumps({"a": 3}))
    with pytest.raises(InputError, match=f"^{path} line 2: not a JSON record$"):
        read_json_lines(path)
    path.write_text(json.dumps({"a": 1}) + "\n" + json.dumps(asdict(AUDIT)) + "\n")
    with pytest.raises(InputError, match=f"^{path} line 1: not an audit record$"):
        AuditLog(path).records()


def _registry(tmp_path):
    return ModelRegistry(f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "artifacts"))


def _register_generator(registry, key: str, symbols: list[str]) -> RegisteredVersion:
    version = register_tiny_generator(registry, key, symbols)
    registry.client.set_registered_model_alias(version.name, "current", version.version)
    return version


def _truncate(registry, version: RegisteredVersion) -> None:
    """Cut the version's exported program on disk, as a full disk or a killed copy would."""
    (artifact,) = Path(registry.artifact_root).rglob(f"{version.run_id}/artifacts/model/**/model.pt2")
    artifact.write_bytes(artifact.read_bytes()[: artifact.stat().st_size // 2])


def test_a_truncated_artifact_fails_its_hash_and_a_version_without_hashes_fails_unzipping(tmp_path):
    registry = _registry(tmp_path)
    version = _register_generator(registry, "vae_scenarios", ["A", "B"])
    assert registry.load("vae_scenarios", "current").verified
    _truncate(registry, version)
    with pytest.raises(ComputationError, match=r"^risk_platform-vae_scenarios version 1: artifact hash mismatch on"
                                               r" \S*model.pt2: expected sha256 \w{16}, found \w{16}$"):
        registry.load("vae_scenarios", "current")
    registry.client.delete_model_version_tag(version.name, version.version, ARTIFACT_HASH_TAG)  # registered before
    with pytest.raises(ComputationError, match=r"^risk_platform-vae_scenarios version 1: model artifacts unreadable"
                                               r" \(BadZipFile: .*\)$"):
        registry.load("vae_scenarios", "current")


def test_a_corrupt_model_leaves_out_that_version_only(tmp_path, daily_features):
    registry = _registry(tmp_path)
    symbols = sorted(daily_features["symbol"].unique())[:2]
    gan = _register_generator(registry, "gan_scenarios", symbols)
    registry.client.delete_model_version_tag(gan.name, gan.version, ARTIFACT_HASH_TAG)  # registered before hashes
    _truncate(registry, _register_generator(registry, "vae_scenarios", symbols))
    models = aliased_model_inputs(registry, daily_features, ("gan_scenarios", "vae_scenarios"), n_scenarios=50)
    (current,) = models.inputs
    assert current.label == "current" and set(current.scenarios) == {"gan"}
    assert current.scenarios["gan"].shape == (50, 2) and current.versions == {"gan": "gan_scenarios v1"}
    unverified, left_out = models.notes
    assert unverified == ("current: risk_platform-gan_scenarios v1 was registered without artifact hashes: loaded"
                          " unverified")
    assert left_out.startswith("current: vae_scenarios left out: risk_platform-vae_scenarios version 1: artifact"
                               " hash mismatch on ")


def test_an_emptied_registry_is_an_error_naming_the_store_and_what_the_audit_log_expects(tmp_path):
    audit = AuditLog(tmp_path / "alias_audit.jsonl")
    registry = ModelRegistry(f"sqlite:///{tmp_path}/mlflow.db", audit=audit)
    name = registry.client.create_registered_model("risk_platform-lstm_vol").name
    registry.client.create_model_version(name, f"file://{tmp_path}/model")
    move_alias(registry, audit, "lstm_vol", "current", "1", "gates passed", actor="ci")
    assert registry.aliases("lstm_vol") == {"current": "1"} and registry.aliases("gnn_corr") == {}  # never audited
    registry.client.delete_registered_model(name)  # as good as a store deleted and recreated empty
    expected = (rf"^MLflow registry sqlite:///{tmp_path}/mlflow.db has no version 1 of risk_platform-lstm_vol, but"
                rf" the alias audit log {audit.path} records current -> v1: the store was lost or replaced$")
    with pytest.raises(RegistryUnavailable, match=expected):
        registry.aliases("lstm_vol")
    assert ModelRegistry(registry.tracking_uri).aliases("lstm_vol") == {}  # without the audit log: nothing expected
    models = aliased_model_inputs(registry, daily=None, model_keys=("lstm_vol", "gnn_corr"))
    assert models.inputs == [] and models.registry_error is not None and "has no version 1" in models.registry_error
    assert models.notes == [f"{models.registry_error}: non-model methods only"]


def test_an_lstm_version_from_before_the_global_model_is_left_out_naming_why(tmp_path):
    registry = _registry(tmp_path)
    _register_generator(registry, "lstm_vol", ["A", "B"])  # metadata without series_identity: false
    notes: list[str] = []
    assert load_or_note(registry, "lstm_vol", "current", notes) is None
    assert notes == ["current: lstm_vol left out: risk_platform-lstm_vol v1 was registered before the global LSTM"
                     " (its inputs carry a series one-hot): retrain it (risk_pipeline or retrain_models) to forecast"
                     " with it"]


def test_a_gnn_version_from_before_the_point_in_time_blend_is_left_out_naming_why(tmp_path):
    registry = _registry(tmp_path)
    _register_generator(registry, "gnn_corr", ["A", "B"])  # metadata without point_in_time_blend
    notes: list[str] = []
    assert load_or_note(registry, "gnn_corr", "current", notes) is None
    assert notes == ["current: gnn_corr left out: risk_platform-gnn_corr v1 was registered before the point-in-time"
                     " correlation blend (its output mixed a training-target prior): retrain it (risk_pipeline or"
                     " retrain_models) to forecast with it"]


def test_generators_trained_on_other_series_are_kept_over_their_own_series(tmp_path, daily_features):
    registry = _registry(tmp_path)
    symbols = sorted(daily_features["symbol"].unique())[:3]
    _register_generator(registry, "gan_scenarios", symbols[:2])
    _register_generator(registry, "vae_scenarios", symbols)  # a universe with one series more
    models = aliased_model_inputs(registry, daily_features, ("gan_scenarios", "vae_scenarios"), n_scenarios=20)
    (current,) = models.inputs
    assert current.symbols == tuple(symbols[:2]) and current.scenarios["gan"].shape == (20, 2)
    vae = current.scenarios["vae"]
    assert vae.symbols == tuple(symbols) and vae.returns.shape == (20, 3)
    assert vae.label == "risk_platform-vae_scenarios v1"
    assert models.notes[-1] == ("current: risk_platform-vae_scenarios v1 covers 3 series: its scenarios are used over"
                                " its own series")
