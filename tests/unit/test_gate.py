"""The 5% missing-data gate on the real bundled panel."""

import json

import pandas as pd
import pytest

from risk_platform.data.loading import load_prices, sha256_file
from risk_platform.data.quality import (
    accepted_panel,
    apply_gate,
    completeness_table,
    gate_threshold,
    quarantine_rejected,
)
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
        assert line.startswith("SPX: 6.0") and "first: 2000-" in line


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


def test_a_feed_starting_after_the_window_is_not_evaluated(raw, instruments, suite):
    table = completeness_table(raw.frame, instruments, window_end=pd.Timestamp("2003-01-31"))
    decision = apply_gate(table, suite, raw.symbols)
    assert {"SX5E", "HYG", "EEM", "USD_BROAD"} <= set(decision.not_evaluated)
    assert not set(decision.not_evaluated) & set(decision.rejected)
    assert "not evaluated" in decision.summary()
