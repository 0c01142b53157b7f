"""The 5% missing-data gate on the real bundled panel."""

import dataclasses
import json

import pandas as pd
import pytest

from risk_platform.data.loading import load_prices, sha256_file
from risk_platform.data.quality import (
    MISSING_DATES_SHOWN,
    GateOutcome,
    accepted_panel,
    apply_gate,
    completeness_table,
    gate_delivery,
    gate_threshold,
    quarantine_rejected,
)
from risk_platform.errors import GateFailedError
from risk_platform.features.returns import compute_returns
from risk_platform.workflows.market_inputs import REJECTED_BY_GATE, gated_market_inputs, stored_market_inputs
from tests.conftest import inject_gaps


def test_suite_sets_the_threshold(suite):
    assert gate_threshold(suite) == 0.05


def test_every_bundled_feed_passes(raw, instruments, suite):
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    assert decision.passed, decision.summary()
    assert len(decision.accepted) == 28
    # N225 and HSI have many holidays: on their own venues' calendars they are nearly complete
    shares = decision.table.set_index("symbol")["missing_share"]
    assert shares["N225"] < 0.01 and shares["HSI"] < 0.01


def test_n225_holidays_would_count_as_missing_on_the_wrong_calendar(raw, instruments, suite):
    wrong = instruments.assign(calendar=instruments["calendar"].where(instruments["symbol"] != "N225", "XNYS"))
    table = completeness_table(raw.frame, wrong).set_index("symbol")
    assert table.at["N225", "missing_share"] > 0.05  # Japanese holidays on NYSE days


@pytest.mark.parametrize(("share", "accepted"), [(0.04, True), (0.06, False)])
def test_injected_gaps_on_a_real_symbol(bundled_prices_text, instruments, suite, write_prices, share, accepted):
    prices, removed = inject_gaps(bundled_prices_text, instruments, "SPX", share)
    raw = load_prices(write_prices(prices), instruments)
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    assert ("SPX" in decision.accepted) is accepted
    assert len(decision.accepted) == 28 - (not accepted)
    row = decision.table.set_index("symbol").loc["SPX"]
    assert row["missing_sessions"] == removed
    assert row["missing_share"] == pytest.approx(share, abs=1 / row["expected_sessions"])
    if not accepted:
        (line,) = decision.rejection_lines()
        assert line.startswith(f"SPX: 6.0% of {row['expected_sessions']} XNYS sessions ")
        assert "missing (max 5%);" in line
        newest = sorted(row["latest_missing_dates"].split(", ")[:MISSING_DATES_SHOWN], reverse=True)
        assert line.endswith(f"; latest missing: {row['latest_missing_dates']}") and newest[0] > "2024-06"


def test_missing_tokens_count_as_missing(instruments, suite, tmp_path):
    days = pd.bdate_range("2024-01-02", "2024-03-29")
    values = ["100"] * len(days)
    for i in range(0, 6):
        values[10 + i] = ["", ".", "null"][i % 3]
    path = tmp_path / "p.csv"
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "symbol": "EEM", "value": values}).to_csv(path, index=False)
    raw = load_prices(path, instruments)
    table = completeness_table(raw.frame, instruments).set_index("symbol")
    # 6 tokens missing; XNYS holidays (MLK, Presidents' Day, Good Friday) are not missing
    assert table.at["EEM", "missing_sessions"] == 6
    assert table.at["EEM", "off_session_values"] == 3
    assert apply_gate(table.reset_index(), suite).rejected == ("EEM",)


def test_rejected_feed_is_quarantined_and_excluded(bundled_prices_text, instruments, suite, write_prices, tmp_path):
    prices, _ = inject_gaps(bundled_prices_text, instruments, "GOLD", 0.06)
    path = write_prices(prices)
    before = sha256_file(path)
    raw = load_prices(path, instruments)
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    assert decision.rejected == ("GOLD",)
    reasons = quarantine_rejected(decision, raw.frame, tmp_path / "quarantine")
    (reason_path,) = reasons
    reason = json.loads(reason_path.read_text())
    assert reason["rejected_feeds"][0]["symbol"] == "GOLD"
    assert reason["rejected_feeds"][0]["missing_share"] > 0.05
    assert sha256_file(reason_path.parent / path.name) == before == reason["sha256"]
    assert path.exists() and sha256_file(path) == before  # the raw file is untouched
    panel = accepted_panel(raw.frame, instruments, decision)
    assert "GOLD" not in set(panel["symbol"]) and panel["symbol"].nunique() == 27
    # quarantining again is idempotent
    assert quarantine_rejected(decision, raw.frame, tmp_path / "quarantine") == reasons


def test_window_end_counts_a_silent_tail(instruments, suite, tmp_path):
    days = pd.bdate_range("2024-01-02", "2024-06-28")
    frame = pd.concat([
        pd.DataFrame({"date": days, "symbol": "SPX", "value": "1"}),
        pd.DataFrame({"date": days[:100], "symbol": "RUT", "value": "1"}),
    ])
    path = tmp_path / "p.csv"
    frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    raw = load_prices(path, instruments)
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    assert decision.rejected == ("RUT",)  # stopped delivering in May: its tail is missing


def test_a_feed_silent_for_its_last_months_is_rejected_despite_a_complete_history(bundled_prices_text, instruments,
                                                                                  suite, write_prices):
    prices = bundled_prices_text
    silent = (prices["symbol"] == "TLT") & (prices["date"] > "2024-11-15")  # ~31 of 5,600 sessions
    raw = load_prices(write_prices(prices[~silent]), instruments)
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    row = decision.table.set_index("symbol").loc["TLT"]
    assert row["missing_share"] < 0.01 and row["recent_missing_share"] > 0.4
    assert decision.rejected == ("TLT",)
    assert decision.rejection_lines() == ["TLT: last 63 sessions 47.6% missing (max 5%); latest missing:"
                                          " 2024-11-18..2024-12-31 (30 sessions)"]


def test_a_rejection_names_the_gap_that_caused_it_not_the_oldest_missing_dates(bundled_prices_text, instruments,
                                                                               suite, write_prices):
    prices = bundled_prices_text
    silent = (prices["symbol"] == "GOLD") & (prices["date"] > "2024-12-13")
    decision = apply_gate(completeness_table(load_prices(write_prices(prices[~silent]), instruments).frame,
                                             instruments), suite)
    row = decision.table.set_index("symbol").loc["GOLD"]
    (line,) = decision.rejection_lines()
    assert line.startswith("GOLD: last 63 sessions 17.5% missing (max 5%); latest missing: 2024-12-16..2024-12-31"
                           " (11 sessions), 2018-01-29, ")
    assert row["first_missing_dates"].startswith("200") and line.endswith(row["latest_missing_dates"])
    markdown = GateOutcome(decision).markdown().splitlines()  # the Dagster check's description: a bullet per feed
    assert markdown[:3] == ["missing-data gate (max 5%): 27 feeds accepted, 1 rejected", "", f"- REJECTED {line}"]


def test_a_feed_starting_after_the_window_is_not_evaluated(raw, instruments, suite):
    table = completeness_table(raw.frame, instruments, window_end=pd.Timestamp("2003-01-31"))
    decision = apply_gate(table, suite, raw.symbols)
    assert {"SX5E", "HYG", "EEM", "USD_BROAD"} <= set(decision.not_evaluated)
    assert not set(decision.not_evaluated) & set(decision.rejected)
    assert "not evaluated" in decision.summary()


def test_gate_delivery_quarantines_and_warns_when_some_feeds_are_rejected(bundled_prices_text, instruments, suite,
                                                                         write_prices, tmp_path):
    prices, _ = inject_gaps(bundled_prices_text, instruments, "GOLD", 0.06)
    raw = load_prices(write_prices(prices), instruments)
    outcome = gate_delivery(raw.frame, instruments, suite, quarantine_dir=tmp_path / "quarantine")
    assert outcome.decision.rejected == ("GOLD",) and not outcome.passed and outcome.severity == "warn"
    (reason,) = outcome.quarantined
    assert json.loads(reason.read_text())["rejected_feeds"][0]["symbol"] == "GOLD"
    assert outcome.gx_result_path is None and outcome.lineage_facts()["quarantined"] == [str(reason.parent)]
    with pytest.raises(GateFailedError, match=r"\(warn\): 1 feed\(s\) rejected: GOLD"):
        outcome.raise_if_failed()


def test_gate_outcome_is_an_error_when_no_feed_passes(instruments, suite, tmp_path):
    days = pd.bdate_range("2024-01-02", "2024-06-28")
    frame = pd.DataFrame({"date": days[:100], "symbol": "RUT", "value": "1"})
    path = tmp_path / "p.csv"
    frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    outcome = gate_delivery(load_prices(path, instruments).frame, instruments, suite,
                            window_end=pd.Timestamp("2024-06-28"))
    assert outcome.decision.rejected == ("RUT",) and outcome.severity == "error"
    assert outcome.quarantined == ()  # no quarantine folder given: nothing copied


def test_a_failed_table_expectation_is_an_error_even_when_every_feed_passes(raw, instruments, suite):
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    assert GateOutcome(decision).passed
    failed = {"results": [{"success": False, "expectation_config": {"type": "expect_table_columns_to_match_set"}},
                          {"success": False, "expectation_config": {"type": "expect_column_values_to_be_between"}}]}
    outcome = GateOutcome(dataclasses.replace(decision, gx_result=failed))
    assert not outcome.passed and outcome.severity == "error"
    assert "table-level expectations failed" in outcome.failure()


def test_gated_market_inputs_are_the_gate_then_the_accepted_panel_and_its_returns(
        bundled_prices_text, instruments, suite, write_prices):
    prices, _ = inject_gaps(bundled_prices_text, instruments, "GOLD", 0.06)
    raw = load_prices(write_prices(prices), instruments)
    market = gated_market_inputs(raw.frame, instruments, suite)
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    panel = accepted_panel(raw.frame, instruments, decision)
    pd.testing.assert_frame_equal(market.panel, panel)
    pd.testing.assert_frame_equal(market.returns, compute_returns(panel, instruments).frame)
    assert market.unavailable == {"GOLD": REJECTED_BY_GATE} and market.gate.decision.rejected == ("GOLD",)
    stored = stored_market_inputs(instruments, market.panel, market.returns, market.gate.decision.table)
    assert stored.unavailable == market.unavailable and stored.gate is None
    one = gated_market_inputs(raw.frame, instruments, suite, symbols=["SPX"])
    assert set(one.panel["symbol"]) == {"SPX"} and one.unavailable == market.unavailable
