"""Aliases only through the audited path: an alias moved or deleted outside it (MLflow's UI or REST API) is refused
by every reader (the audited version is used, or none), recorded once in the audit log, alerted, and put back by the
next promotion run. A real MLflow store and real registered models in a temp folder."""

import pytest

from risk_platform.alerts import ALIASES_AUDITED, AlertSink, check_limits, read_alerts
from risk_platform.families import FAMILIES
from risk_platform.models.audit import RESTORED_EVENT, UNAUDITED_EVENT, AuditLog, UnauditedMove
from risk_platform.models.governance import move_alias, restore_audited_aliases
from risk_platform.models.inference import aliased_model_inputs
from risk_platform.models.registry import ModelRegistry
from risk_platform.risk.limits import parse_limits
from risk_platform.workflows.promotion import validated_candidate
from tests.registered_models import register_tiny_generator

KEY = "gan_scenarios"
NAME = FAMILIES[KEY].registered_name
LIMITS = parse_limits({"limits": [
    {"name": "var99", "family": "var", "metric": "var_99", "scale": "pct_nav", "warn": 1.5, "breach": 2.0}]})


@pytest.fixture
def audited(tmp_path):
    """Two registered versions; ``current`` moved to v1 through the audited path."""
    audit = AuditLog(tmp_path / "alias_audit.jsonl")
    registry = ModelRegistry(f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "artifacts"), audit=audit)
    for _ in range(2):
        register_tiny_generator(registry, KEY, ["A", "B"], metrics={"stress_disc_score": 0.1})
    move_alias(registry, audit, KEY, "current", "1", "gates passed", actor="ci")
    return registry, audit


def _moved_in_the_ui(registry, alias="current", version="2"):
    registry.client.set_registered_model_alias(NAME, alias, version)


def test_audited_aliases_are_used_as_they_are(audited):
    registry, _ = audited
    assert registry.aliases(KEY) == {"current": "1"} and registry.unaudited_moves(KEY) == []
    assert registry.load(KEY, "current").version == "1"


def test_an_alias_moved_outside_the_audit_is_refused_and_the_audited_version_loaded(audited):
    registry, _ = audited
    _moved_in_the_ui(registry)
    assert registry.registry_alias_map(KEY) == {"current": "2"}
    assert registry.aliases(KEY) == {"current": "1"}
    (move,) = registry.unaudited_moves(KEY)
    assert move == UnauditedMove(KEY, "current", "2", "1")
    assert move.describe() == ("gan_scenarios alias 'current' is v2 in the registry but v1 in the audit log:"
                               " unaudited move refused (audited v1 used)")
    assert registry.load(KEY, "current").version == "1"
    assert ModelRegistry(registry.tracking_uri).load(KEY, "current").version == "2"  # no audit log: nothing checked


def test_an_alias_never_audited_is_ignored_and_a_deleted_one_still_reads_audited(audited):
    registry, _ = audited
    _moved_in_the_ui(registry, "stable", "2")
    registry.client.delete_registered_model_alias(NAME, "current")
    assert registry.aliases(KEY) == {"current": "1"}
    assert [m.describe() for m in registry.unaudited_moves(KEY)] == [
        "gan_scenarios alias 'current' is deleted in the registry but v1 in the audit log: unaudited move refused"
        " (audited v1 used)",
        "gan_scenarios alias 'stable' is v2 in the registry but no audited move in the audit log: unaudited move"
        " refused (alias ignored)"]
    with pytest.raises(Exception, match="no version of risk_platform-gan_scenarios has the alias 'stable'"):
        registry.load(KEY, "stable")


def test_a_risk_run_uses_the_audited_version_and_records_the_move_once(audited, daily_features):
    registry, audit = audited
    symbols = ["A", "B"]
    daily = daily_features[daily_features["symbol"].isin(sorted(daily_features["symbol"].unique())[:2])].replace(
        dict(zip(sorted(daily_features["symbol"].unique())[:2], symbols, strict=True)))
    _moved_in_the_ui(registry)
    for run in ("run-1", "run-2"):
        models = aliased_model_inputs(registry, daily, (KEY,), n_scenarios=20, actor=f"dagster run {run}")
        (current,) = models.inputs
        assert current.versions == {"gan": "gan_scenarios v1"}
        assert models.unaudited == [UnauditedMove(KEY, "current", "2", "1")]
        assert models.notes[-1].endswith("unaudited move refused (audited v1 used)")
    recorded = [r for r in audit.records() if r.event == UNAUDITED_EVENT]
    assert [(r.model, r.alias, r.from_version, r.to_version, r.actor) for r in recorded] == [
        (KEY, "current", "1", "2", "dagster run run-1")]  # once, by the first run that found it
    assert audit.aliases(KEY) == {"current": "1"}  # a record of a refused move moves nothing


def test_an_unaudited_move_opens_an_alert_and_its_repair_clears_it(tmp_path):
    sink = AlertSink(tmp_path / "alerts.jsonl")
    report = {"portfolio": "Book", "asof": "2024-12-31", "nav": 100e6, "var_99": 1e6, "bound_by": {},
              "unaudited_alias_moves": [UnauditedMove(KEY, "current", "2", "1").to_dict()]}
    check_limits(report, LIMITS, sink, run_id="r1")
    check_limits({**report, "unaudited_alias_moves": []}, LIMITS, sink, run_id="r2")
    check_limits({k: v for k, v in report.items() if k != "unaudited_alias_moves"}, LIMITS, sink, run_id="r3")
    records = [(r["limit"], r["event"], r["severity"], r["message"]) for r in read_alerts(sink.jsonl_path)]
    assert records == [
        (ALIASES_AUDITED, "opened", "error", "gan_scenarios alias 'current' is v2 in the registry but v1 in the audit"
                                             " log: unaudited move refused (audited v1 used)"),
        (ALIASES_AUDITED, "cleared", "error", "cleared: every model alias is where the audit log puts it")]


def test_a_promotion_run_puts_unaudited_aliases_back_and_records_both(audited):
    registry, audit = audited
    _moved_in_the_ui(registry)
    _moved_in_the_ui(registry, "stable", "2")
    restored = restore_audited_aliases(registry, audit, KEY, actor="dagster run p1")
    assert [(m.alias, m.found, m.audited) for m in restored] == [("current", "2", "1"), ("stable", "2", None)]
    assert registry.registry_alias_map(KEY) == {"current": "1"} and registry.unaudited_moves(KEY) == []
    events = [(r.event, r.alias, r.from_version, r.to_version) for r in audit.records()][1:]
    assert events == [(UNAUDITED_EVENT, "current", "1", "2"), (UNAUDITED_EVENT, "stable", None, "2"),
                      (RESTORED_EVENT, "current", "2", "1"), (RESTORED_EVENT, "stable", "2", None)]
    assert restore_audited_aliases(registry, audit, KEY, actor="dagster run p2") == []


def test_the_promotion_judges_the_version_the_crisis_windows_validated(audited):
    registry, _ = audited
    family = FAMILIES[KEY]
    same = {"gfc_2008": {"candidate_version": "1"}, "covid_2020": {"candidate_version": "1"}}
    candidate = validated_candidate(registry, family, same)
    assert (candidate.version, dict(candidate.metrics), candidate.problem) == ("1", {"stress_disc_score": 0.1}, None)
    mixed = {"gfc_2008": {"candidate_version": "1"}, "covid_2020": {"candidate_version": "2"},
             "svb_2023": {"candidate_version": "2"}}
    candidate = validated_candidate(registry, family, mixed)
    assert candidate.version == "2"
    assert candidate.problem == ("the crisis windows validated different versions (v1: gfc_2008; v2: covid_2020,"
                                 " svb_2023): re-run the validation of v2 in every window")
