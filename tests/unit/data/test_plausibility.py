"""The plausibility gate on the real bundled panel: real extreme days pass, injected bad points are named,
removed and quarantined, and one fat-finger price no longer moves the headline VaR."""

import json

import pandas as pd
import pytest

from risk_platform import paths
from risk_platform.data.loading import load_prices, sha256_file
from risk_platform.data.plausibility import (
    default_plausibility_suite_path,
    plausibility_gate,
    point_rules,
    point_table,
)
from risk_platform.data.quality import SUSPECT_FILE, gate_delivery, load_suite
from risk_platform.errors import GateFailedError
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.risk.config import RiskConfig
from risk_platform.workflows.assessment import assess
from risk_platform.workflows.market_inputs import REJECTED_AS_IMPLAUSIBLE, gated_market_inputs

EVALUATION = pd.Timestamp("2026-11-30")


@pytest.fixture(scope="module")
def plaus_suite() -> dict:
    return load_suite(default_plausibility_suite_path())


def _set(prices: pd.DataFrame, symbol: str, date: str, value: str) -> pd.DataFrame:
    """A copy of the bundled prices (text) with one value replaced."""
    where = (prices["symbol"] == symbol) & (prices["date"] == date)
    assert where.sum() == 1
    return prices.assign(value=prices["value"].where(~where, value))


def test_the_bundled_panel_has_no_suspect_point(raw, instruments, plaus_suite):
    decision = plausibility_gate(raw.frame, instruments, plaus_suite, evaluation_date=EVALUATION)
    assert decision.suspects.empty and decision.feeds.empty


@pytest.mark.parametrize(("symbol", "date"), [("SPX", "2008-10-13"), ("SPX", "2008-10-15"), ("RUT", "2008-10-13"),
                                              ("SPX", "2020-03-16"), ("VIX", "2020-03-16"), ("WTI", "2020-04-20"),
                                              ("WTI", "2020-04-21"), ("NATGAS_HH", "2024-01-12")])
def test_real_extreme_days_are_below_every_bound(raw, instruments, plaus_suite, symbol, date):
    points = point_table(raw.frame, instruments, plaus_suite, EVALUATION).set_index(["symbol", "date"])
    row = points.loc[(symbol, pd.Timestamp(date))]
    k = point_rules(plaus_suite)["spike_score"]["max_value"]
    assert row["spike_score"] < k and row["days_past_limit"] <= 0
    if symbol == "WTI" and date == "2020-04-20":
        assert row["value"] < 0 and row["sign_margin"] == 1.0  # a commodity may settle below zero


@pytest.mark.parametrize(("symbol", "date", "value", "rule", "why"), [
    ("SPX", "2024-12-30", "59069.399", "spike_score", "one-day spike"),
    ("SPX", "2024-12-31", "-5881.63", "sign_margin", "non-positive index_level"),
    ("SPX", "2024-12-31", "0", "sign_margin", "non-positive index_level"),
    ("EURUSD", "2024-12-31", "1e-320", "magnitude_log10", "denormal"),
    ("UST10Y", "2024-12-31", "4.58e13", "magnitude_log10", "|x| > 1e12"),
])
def test_a_bad_point_is_named_removed_and_its_feed_kept_and_flagged(bundled_prices_text, instruments, suite,
                                                                    write_prices, symbol, date, value, rule, why):
    raw = load_prices(write_prices(_set(bundled_prices_text, symbol, date, value)), instruments)
    market = gated_market_inputs(raw.frame, instruments, suite, evaluation_date=EVALUATION)
    (point,) = market.gate.suspects.itertuples()
    assert (point.symbol, f"{point.date:%Y-%m-%d}", point.value, point.rule) == (symbol, date, value, rule)
    assert why in point.why and point.file == str(raw.files[0].path)
    assert market.gate.flagged == (symbol,) and symbol not in market.unavailable
    assert symbol in market.flagged and date in market.flagged[symbol]
    panel = market.panel.set_index(["symbol", "date"])
    assert (symbol, pd.Timestamp(date)) not in panel.index and (symbol, pd.Timestamp("2024-12-27")) in panel.index
    assert not market.gate.passed and market.gate.severity == "warn"
    with pytest.raises(GateFailedError, match=rf"plausibility gate \(warn\): 1 suspect point\(s\) removed, feed\(s\)"
                                              rf" flagged: {symbol}: {symbol} {date} value {value}"):
        market.gate.raise_if_failed()


def test_a_row_after_the_evaluation_date_is_named_and_does_not_empty_the_delivery(bundled_prices_text, instruments,
                                                                                  suite, write_prices):
    future = pd.DataFrame({"date": ["2027-01-04"], "symbol": ["SPX"], "value": ["5900.1"]})
    raw = load_prices(write_prices(pd.concat([bundled_prices_text, future])), instruments)
    outcome = gate_delivery(raw.frame, instruments, suite, evaluation_date=EVALUATION)
    assert outcome.decision.passed and len(outcome.accepted) == 28  # not "last 63 sessions: 100% missing"
    (point,) = outcome.suspects.itertuples()
    assert (point.symbol, f"{point.date:%Y-%m-%d}", point.value) == ("SPX", "2027-01-04", "5900.1")
    assert point.why == "dated after the evaluation date 2026-11-30"
    later = gate_delivery(raw.frame, instruments, suite, evaluation_date=pd.Timestamp("2027-06-30"))
    assert later.suspects.empty


def test_a_row_beyond_the_venue_calendar_is_named(bundled_prices_text, instruments, suite, write_prices):
    beyond = pd.DataFrame({"date": ["2099-01-05"], "symbol": ["HSI"], "value": ["20000"]})
    raw = load_prices(write_prices(pd.concat([bundled_prices_text, beyond])), instruments)
    outcome = gate_delivery(raw.frame, instruments, suite, evaluation_date=pd.Timestamp("2100-01-01"))
    (point,) = outcome.suspects.itertuples()
    assert point.symbol == "HSI" and point.why == "dated after the last day its venue calendar knows (2049-12-31)"
    assert outcome.decision.passed


def test_more_than_three_recent_suspects_reject_the_feed_and_are_quarantined(bundled_prices_text, instruments,
                                                                              suite, write_prices, tmp_path):
    prices = bundled_prices_text
    for date in ("2024-12-02", "2024-12-04", "2024-12-09", "2024-12-11"):
        prices = _set(prices, "FTSE100", date, "0")  # an index level must be positive
    path = write_prices(prices)
    before = sha256_file(path)
    raw = load_prices(path, instruments)
    market = gated_market_inputs(raw.frame, instruments, suite, evaluation_date=EVALUATION,
                                 quarantine_dir=tmp_path / "quarantine")
    gate = market.gate
    assert gate.rejected == ("FTSE100",) and "FTSE100" not in gate.accepted and gate.severity == "warn"
    assert market.unavailable == {"FTSE100": REJECTED_AS_IMPLAUSIBLE}
    assert "FTSE100" not in set(market.panel["symbol"])
    (csv,) = gate.suspect_files
    assert csv.name == SUSPECT_FILE and sha256_file(csv.parent / path.name) == before == sha256_file(path)
    written = pd.read_csv(csv, dtype=str)
    assert list(written.columns) == ["file", "symbol", "date", "value", "rule", "why"]
    assert list(written["date"]) == ["2024-12-02", "2024-12-04", "2024-12-09", "2024-12-11"]
    table = gate.feed_table().set_index("symbol")
    assert table.at["FTSE100", "recent_suspect_points"] == 4 and not table.at["FTSE100", "accepted"]
    assert json.loads(json.dumps(gate.lineage_facts()))["rejected"] == ["FTSE100"]


def test_gx_finds_the_same_suspect_points(bundled_prices_text, instruments, suite, write_prices, tmp_path):
    raw = load_prices(write_prices(_set(bundled_prices_text, "SPX", "2024-12-30", "59069.399")), instruments)
    outcome = gate_delivery(raw.frame, instruments, suite, gx=True, evaluation_date=EVALUATION,
                            validations_dir=tmp_path / "validations")
    plaus = outcome.plausibility
    assert plaus.gx_validation_id and list(outcome.suspects["symbol"]) == ["SPX"]
    failed = [r["expectation_config"]["kwargs"]["column"] for r in plaus.gx_result["results"] if not r["success"]]
    assert failed == ["spike_score"]
    assert (tmp_path / "validations" / f"{plaus.gx_validation_id}.json").exists()


def test_a_fat_finger_moves_the_headline_var_by_less_than_5_percent(bundled_prices_text, instruments, suite,
                                                                    write_prices, market_inputs):
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)
    config = RiskConfig(mc_scenarios=2000, fit_copula=False)
    clean = assess(book, market_inputs, config, stress=False)
    raw = load_prices(write_prices(_set(bundled_prices_text, "SPX", "2024-12-30", "59069.399")), instruments)
    dirty = assess(book, gated_market_inputs(raw.frame, instruments, suite, evaluation_date=EVALUATION), config,
                   stress=False)
    assert abs(dirty.var_99 / clean.var_99 - 1) < 0.05


@pytest.mark.parametrize("last_day", ["2008-10-15", "2020-03-16", "2020-04-20", "2020-04-21"])
def test_a_real_crash_on_the_last_day_of_a_delivery_is_never_removed(raw, instruments, plaus_suite, last_day):
    delivery = raw.frame[raw.frame["date"] <= last_day]
    decision = plausibility_gate(delivery, instruments, plaus_suite, evaluation_date=EVALUATION)
    assert decision.suspects.empty  # at most flagged unconfirmed, never removed
    assert decision.unconfirmed.empty or (decision.unconfirmed["rule"] == "unconfirmed").all()


def test_a_fat_finger_on_the_last_day_is_kept_and_flagged_unconfirmed(bundled_prices_text, instruments,
                                                                      plaus_suite, write_prices):
    raw = load_prices(write_prices(_set(bundled_prices_text, "SPX", "2024-12-31", "58816.299")), instruments)
    decision = plausibility_gate(raw.frame, instruments, plaus_suite, evaluation_date=EVALUATION)
    assert decision.suspects.empty
    (point,) = decision.unconfirmed.itertuples()
    assert (point.symbol, f"{point.date:%Y-%m-%d}", point.value) == ("SPX", "2024-12-31", "58816.299")
    assert point.why.startswith("latest value, no next day to confirm it: return +2.298 is 392 x")
    assert 7 < point.times_limit < 9 and "UNCONFIRMED SPX 2024-12-31" in decision.summary()


def test_the_latest_point_after_a_removed_spike_is_judged_against_the_last_kept_value(
        bundled_prices_text, instruments, plaus_suite, write_prices):
    raw = load_prices(write_prices(_set(bundled_prices_text, "SPX", "2024-12-30", "59069.399")), instruments)
    decision = plausibility_gate(raw.frame, instruments, plaus_suite, evaluation_date=EVALUATION)
    assert list(decision.suspects["date"].dt.strftime("%Y-%m-%d")) == ["2024-12-30"] and decision.unconfirmed.empty
