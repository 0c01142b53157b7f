"""The risk report's data flags on the real bundled panel and book: a suspect point removed by the plausibility
gate, or a latest price kept unconfirmed, is named with the positions, methods, headline figures, stress replays
and valuation it affects (library, stored pipeline inputs, the portfolio_risk check and the command line)."""

import json

import pandas as pd
import pytest

from assets.metadata import data_plausible_check
from assets.risk import PLAUSIBLE_CHECK
from risk_platform import paths
from risk_platform.cli import main
from risk_platform.data.loading import load_prices
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.risk.config import RiskConfig
from risk_platform.workflows.assessment import assess
from risk_platform.workflows.market_inputs import gated_market_inputs, stored_market_inputs
from tests.unit.data.test_plausibility import _set

EVALUATION = pd.Timestamp("2026-11-30")
CONFIG = RiskConfig(mc_scenarios=2000, fit_copula=False, evaluation_date=EVALUATION)
SPX_POSITIONS = {"SPX", "SPX option"}


@pytest.fixture(scope="module")
def book(instruments):
    return load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)


@pytest.fixture(scope="module")
def gated(bundled_prices_text, instruments, suite, tmp_path_factory):
    """Market inputs of the bundled prices with SPX set to ``value`` on ``date`` (a file per case)."""

    def _gated(date: str, value: str):
        path = tmp_path_factory.mktemp("prices") / "prices.csv"
        _set(bundled_prices_text, "SPX", date, value).to_csv(path, index=False)
        return gated_market_inputs(load_prices(path, instruments).frame, instruments, suite,
                                   evaluation_date=EVALUATION), path

    return _gated


@pytest.fixture(scope="module")
def clean_report(market_inputs, book):
    return assess(book, market_inputs, CONFIG)


def test_the_clean_panel_has_no_data_flag(clean_report):
    assert clean_report.data_flags == [] and data_plausible_check(clean_report, PLAUSIBLE_CHECK).passed


def test_a_fat_finger_the_day_before_is_removed_and_named_with_what_it_affects(gated, book, clean_report):
    market, _ = gated("2024-12-30", "59069.399")  # SPX x10
    report = assess(book, market, CONFIG)
    (flag,) = report.data_flags
    assert (flag["symbol"], flag["date"], flag["value"], flag["status"]) == ("SPX", "2024-12-30", "59069.399",
                                                                             "removed")
    assert set(flag["positions"]) == SPX_POSITIONS and flag["exposure_usd"] > 0
    assert {"historical", "parametric_ewma", "filtered_historical"} <= set(flag["methods"])
    assert "var_99" in flag["headline"] and flag["stress"] == []
    assert flag["valuation"] == "valuation unaffected (not the latest price)" and not report.unconfirmed_prices
    assert abs(report.var_99 / clean_report.var_99 - 1) < 0.05
    assert "  DATA FLAG SPX 2024-12-30 value 59069.399 REMOVED (one-day spike" in report.summary()
    check = data_plausible_check(report, PLAUSIBLE_CHECK)
    assert not check.passed and check.severity.value == "WARN" and "SPX 2024-12-30" in check.description


def test_a_removed_point_in_a_crisis_window_names_the_replays_and_not_the_window_methods(gated, book):
    market, _ = gated("2020-03-17", "24000.5")  # ~x10, outside the 500-day historical window
    (flag,) = assess(book, market, CONFIG).data_flags
    assert "historical" not in flag["methods"] and "parametric_ewma" not in flag["methods"]
    assert "filtered_historical" in flag["methods"] and "regime_adjusted" in flag["methods"]
    assert flag["stress"] and all(name.startswith("covid_2020") for name in flag["stress"])


def test_a_removed_latest_price_says_the_positions_are_valued_at_the_previous_price(gated, book):
    market, _ = gated("2024-12-31", "-5881.63")  # an index level must be positive
    (flag,) = assess(book, market, CONFIG).data_flags
    assert flag["status"] == "removed" and flag["valuation"].startswith(
        "the removed point was SPX's latest price: positions valued at the previous price")
    assert "of 2024-12-30" in flag["valuation"]


def test_a_fat_finger_on_the_asof_date_is_kept_flagged_unconfirmed_and_survives_the_stored_path(gated, book,
                                                                                                clean_report):
    market, _ = gated("2024-12-31", "58816.299")  # SPX x10 on the last day: no next day to confirm it
    assert market.gate.suspects.empty and (market.panel["value"] == 58816.299).any()  # not removed
    report = assess(book, market, CONFIG)
    (flag,) = report.unconfirmed_prices
    assert flag["status"] == "unconfirmed" and flag["date"] == "2024-12-31" and flag["times_limit"] > 5
    assert set(flag["positions"]) == SPX_POSITIONS and "var_99" in flag["headline"]
    assert "the headline figures use an unconfirmed price for SPX (58816.299 on 2024-12-31)" in flag["valuation"]
    assert report.var_99 > 5 * clean_report.var_99  # the price is used, and the report says so
    stored = stored_market_inputs(market.instruments, market.panel, market.returns, market.gate.feed_table())
    pd.testing.assert_frame_equal(stored.flag_points.drop(columns="times_limit"),
                                  market.flag_points.drop(columns="times_limit"), check_dtype=False)
    check = data_plausible_check(report, PLAUSIBLE_CHECK)
    assert not check.passed and check.metadata["unconfirmed_prices_used"].value == "SPX 2024-12-31"


def test_the_cli_risk_output_names_the_unconfirmed_price(gated, capsys):
    _, prices = gated("2024-12-31", "58816.299")
    args = ["risk", "--prices", str(prices), "--instruments", str(paths.BUNDLED_INSTRUMENTS), "--portfolio",
            str(paths.SAMPLE_PORTFOLIO), "--mc-scenarios", "0", "--no-stress", "--evaluation-date", "2026-11-30"]
    assert main([*args, "--json"]) == 0
    done = capsys.readouterr()
    (flag,) = json.loads(done.out)["data_flags"]
    assert flag["status"] == "unconfirmed" and flag["unconfirmed_price_used"]
    assert ("risk-platform: warning: data flag: SPX 2024-12-31 value 58816.299 UNCONFIRMED (latest value, no next"
            " day to confirm it: return +2.298") in done.err
    assert "the headline figures use an unconfirmed price for SPX" in done.err
    assert main(args) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "DATA FLAG" in x]
    assert line.startswith("  DATA FLAG SPX 2024-12-31 value 58816.299 UNCONFIRMED") and "7.8 x the limit" in line
