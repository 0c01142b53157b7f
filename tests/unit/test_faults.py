"""Faults degrade loudly and narrowly: torn append-only logs, corrupt model artifacts, an emptied registry."""

import json
import warnings
from dataclasses import asdict

import pytest

from risk_platform.alerts import AlertSink, check_limits, read_alerts
from risk_platform.errors import InputError
from risk_platform.io import TornLineWarning, append_line, read_json_lines
from risk_platform.lineage import LineageRecord, LineageStore
from risk_platform.models.governance import AuditLog, AuditRecord
from risk_platform.models.guardrails import OverrideLog, OverrideRecord
from risk_platform.risk.limits import parse_limits

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


AUDIT = AuditRecord("2026-01-05T00:00:00+00:00", "alias_move", "lstm_vol", "current", None, "1", "gates", None, "ci")
OVERRIDE = OverrideRecord("2026-01-05T00:00:00+00:00", "lstm_vol", "1", "SPX", "2026-01-02", 2.5, "Ann", "checked")
LINEAGE = LineageRecord("run-1", "portfolio_risk", ["portfolio"], {"var_99": 1.0}, "abc", "2026-01-05")


@pytest.mark.parametrize("log, record, read", [
    (lambda p: AuditLog(p), AUDIT, lambda p: AuditLog(p).records()),
    (lambda p: OverrideLog(p), OVERRIDE, lambda p: OverrideLog(p).records()),
    (lambda p: LineageStore(p.parent), LINEAGE, lambda p: LineageStore(p.parent).records("run-1")),
], ids=["alias_audit", "overrides", "lineage"])
def test_every_log_keeps_its_whole_records_around_a_torn_line(tmp_path, log, record, read):
    path = tmp_path / "run-1.jsonl"
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
