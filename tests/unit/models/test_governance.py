"""Promotion policy and the append-only audit log, against a real (temporary) MLflow registry."""

import json

import pandas as pd
import pytest

from risk_platform.errors import InputError
from risk_platform.families import FAMILIES, MODEL_NAMES, model_family
from risk_platform.models.audit import AuditLog
from risk_platform.models.governance import (
    PromotionPolicy,
    apply_policy,
    evaluate_gates,
    move_alias,
    record_monitoring,
)
from risk_platform.models.names import ALIAS_HISTORY_TAG
from risk_platform.models.registry import ModelRegistry

GOOD = {"oos_kupiec_p_boot_99": 0.4, "oos_christoffersen_p_boot_99": 0.5, "oos_kupiec_p_boot_975": 0.3,
        "oos_christoffersen_p_boot_975": 0.6, "windows_compared": 7, "crisis_excess_exceptions_99": 0,
        "crisis_dm_p_worse_99": 0.5, "has_incumbent": 0}  # the policy's gates pass (no incumbent)
GOOD_LSTM = {**GOOD, "qlike_ratio_to_ewma": 0.97}
T0 = pd.Timestamp("2026-01-05", tz="UTC")
GATES = {key: family.gates for key, family in FAMILIES.items()}
LSTM_GATES = GATES["lstm_vol"]
PASSED = evaluate_gates(LSTM_GATES, GOOD_LSTM, PromotionPolicy())


@pytest.fixture
def registry(tmp_path):
    reg = ModelRegistry(f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "artifacts"))
    reg.client.create_registered_model(MODEL_NAMES["lstm_vol"])
    for _ in range(3):
        reg.client.create_model_version(MODEL_NAMES["lstm_vol"], f"file://{tmp_path}/model")
    return reg


def test_gates_by_model_family():
    policy = PromotionPolicy()
    assert evaluate_gates(GATES["lstm_vol"], GOOD_LSTM, policy).passed
    worse = evaluate_gates(GATES["lstm_vol"], {**GOOD_LSTM, "qlike_ratio_to_ewma": 1.02}, policy)
    assert not worse.passed and "FAIL QLIKE no worse than EWMA" in worse.reason
    more = evaluate_gates(GATES["lstm_vol"], {**GOOD_LSTM, "crisis_excess_exceptions_99": 1}, policy)
    assert not more.passed and "FAIL in every crisis window at most 0 exceptions" in more.reason
    missing = evaluate_gates(GATES["gan_scenarios"], {"stress_var99_rel_err_equal_weight": 0.05}, policy)
    assert not missing.passed and "missing" in missing.reason
    assert not evaluate_gates(GATES["lstm_vol"], {**GOOD_LSTM, "windows_compared": 2}, policy).passed
    gen = {**GOOD,
           **{k: 0.08 for k in ("stress_var99_rel_err_equal_weight", "stress_es975_rel_err_equal_weight",
                                "stress_var99_rel_err_60_40", "stress_es975_rel_err_60_40")}}
    assert evaluate_gates(GATES["vae_scenarios"], gen, policy).passed
    assert not evaluate_gates(GATES["vae_scenarios"], {**gen, "stress_es975_rel_err_60_40": 0.2}, policy).passed
    assert not evaluate_gates(GATES["gan_scenarios"], {**gen, "oos_kupiec_p_boot_975": 0.01}, policy).passed  # policy
    with pytest.raises(InputError):
        model_family("nope")


def test_policy_from_yaml(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("stable_after_days: 90\nmin_coverage_p: 0.01\n")
    assert PromotionPolicy.from_yaml(path) == PromotionPolicy(stable_after_days=90, min_coverage_p=0.01)
    path.write_text("stable_after: 90\n")
    with pytest.raises(InputError, match="unknown policy setting"):
        PromotionPolicy.from_yaml(path)


def test_promotion_moves_current_then_stable_after_six_months(registry, tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    policy = PromotionPolicy()
    moves = apply_policy(registry, audit, "lstm_vol", "1", PASSED, policy, "schedule", "val-1", T0)
    assert [(m.alias, m.to_version) for m in moves] == [("current", "1")]
    # a second version 3 months later: passes, but v1 has not served six months -> not stable
    moves = apply_policy(registry, audit, "lstm_vol", "2", PASSED, policy, "schedule", "val-2",
                            T0 + pd.Timedelta(days=90))
    assert [(m.alias, m.to_version) for m in moves] == [("current", "2")]
    assert "stable" not in registry.aliases("lstm_vol")
    # a third version 7 months after v2 became current: v2 -> stable, v3 -> current
    moves = apply_policy(registry, audit, "lstm_vol", "3", PASSED, policy, "schedule", "val-3",
                            T0 + pd.Timedelta(days=300))
    assert [(m.alias, m.to_version, m.from_version) for m in moves] == [("stable", "2", None), ("current", "3", "2")]
    assert registry.aliases("lstm_vol") == {"current": "3", "stable": "2"}
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    moves_logged = [line for line in lines if line["event"] == "alias_move"]
    assert len(moves_logged) == 4 and {line["actor"] for line in lines} == {"schedule"}
    assert [line["validation_run_id"] for line in lines if line["event"] == "gates_passed"] == ["val-1", "val-2",
                                                                                              "val-3"]
    tags = registry.client.get_model_version(MODEL_NAMES["lstm_vol"], "2").tags  # one entry: the latest move
    assert tags == {ALIAS_HISTORY_TAG: f"current -> stable by schedule at {(T0 + pd.Timedelta(days=300)).isoformat()}"}
    latest = registry.client.get_model_version(MODEL_NAMES["lstm_vol"], "3").tags[ALIAS_HISTORY_TAG]
    assert latest == f"no alias -> current by schedule at {(T0 + pd.Timedelta(days=300)).isoformat()} (replaces v2)"


def test_failed_gates_move_nothing(registry, tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    move_alias(registry, audit, "lstm_vol", "experimental", "2", "new training", "schedule")
    gates = evaluate_gates(LSTM_GATES, {**GOOD_LSTM, "oos_kupiec_p_boot_99": 0.01}, PromotionPolicy())
    moves = apply_policy(registry, audit, "lstm_vol", "2", gates, PromotionPolicy(), "schedule")
    assert not gates.passed and moves == []
    assert registry.aliases("lstm_vol") == {"experimental": "2"}
    assert [r.event for r in audit.records()] == ["alias_move", "gates_failed"]  # the refusal is on record
    assert "FAIL Kupiec" in audit.records()[-1].reason


def test_a_monitoring_failure_blocks_stable(registry, tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    policy = PromotionPolicy()
    apply_policy(registry, audit, "lstm_vol", "1", PASSED, policy, "schedule", now=T0)
    record_monitoring(audit, "lstm_vol", "1", False, "exception rate above expectation", "sensor",
                      now=T0 + pd.Timedelta(days=30))
    moves = apply_policy(registry, audit, "lstm_vol", "2", PASSED, policy, "jane.doe",
                            now=T0 + pd.Timedelta(days=200))
    assert [(m.alias, m.to_version) for m in moves] == [("current", "2")]
    assert "stable" not in registry.aliases("lstm_vol")


def test_audit_log_is_append_only(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    record_monitoring(audit, "lstm_vol", "1", True, "ok", "sensor")
    before = (tmp_path / "audit.jsonl").read_bytes()
    record_monitoring(audit, "lstm_vol", "1", True, "ok again", "sensor")
    assert (tmp_path / "audit.jsonl").read_bytes().startswith(before)
    (tmp_path / "audit.jsonl").write_text("garbage\n")
    with pytest.raises(InputError, match="line 1: not an audit record"):
        audit.records()


def test_gate_lines_name_the_threshold_and_the_value():
    gen = {**GOOD, "oos_kupiec_p_boot_99": 0.05, "has_incumbent": 1, "incumbent_excess_exceptions_99": -1,
           **{k: 0.08 for k in ("stress_var99_rel_err_equal_weight", "stress_es975_rel_err_equal_weight",
                                "stress_var99_rel_err_60_40", "stress_es975_rel_err_60_40")}}
    checks = evaluate_gates(GATES["gan_scenarios"], gen, PromotionPolicy()).checks
    assert checks[0] == ("FAIL Kupiec bootstrap p at 99% over the walk-forward out-of-sample period above 0.05:"
                         " oos_kupiec_p_boot_99 = 0.05")  # strictly above
    assert checks[4:9] == ("pass at least 5 crisis windows compared with the baselines: windows_compared = 7",
                           "pass in every crisis window at most 0 exceptions at 99% more than the best baseline:"
                           " crisis_excess_exceptions_99 = 0",
                           "pass tick loss not significantly worse than the best baseline on the crisis days pooled"
                           " (Diebold-Mariano p above 0.05): crisis_dm_p_worse_99 = 0.5",
                           "pass at most 0 exceptions at 99% more than the incumbent current on the same days:"
                           " incumbent_excess_exceptions_99 = -1",
                           "FAIL tick loss not significantly worse than the incumbent current (Diebold-Mariano p"
                           " above 0.05): metric incumbent_dm_p_worse_99 missing (the incumbent's stored window"
                           " forecasts share no crisis day with the candidate's)")
    assert checks[9] == ("pass stress-regime portfolio risk within 10% of historical:"
                         " stress_var99_rel_err_equal_weight = 0.08")
    assert len(checks) == 13
    strict = PromotionPolicy(max_frobenius_ratio_to_sample=0.9)
    gnn = evaluate_gates(GATES["gnn_corr"], {"ratio_gnn_to_sample63": 1.0}, strict)
    assert gnn.checks[-1] == ("FAIL correlation error no worse than the 63-day sample: ratio_gnn_to_sample63 = 1")


def test_an_experiment_created_meanwhile_by_a_concurrent_training_is_used(registry, monkeypatch):
    """Two trainings at once (multiprocess or Celery executor) may both find the experiment missing: the second
    creation is refused by MLflow as existing, and that training uses the experiment the other created."""
    other = ModelRegistry(registry.tracking_uri, artifact_root=registry.artifact_root)
    lookup = registry.client.get_experiment_by_name
    lookups = []

    def created_by_the_other_after_this_lookup(name):
        lookups.append(name)
        if len(lookups) == 1:
            other.experiment_id(name)
            return None
        return lookup(name)

    monkeypatch.setattr(registry.client, "get_experiment_by_name", created_by_the_other_after_this_lookup)
    assert registry.experiment_id("risk_platform-race") == lookup("risk_platform-race").experiment_id
    assert len(lookups) == 2
