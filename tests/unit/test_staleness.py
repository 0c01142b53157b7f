"""Staleness against the clock on the real bundled data (ending 2024-12-31), with explicit evaluation dates:
each feed's age in venue sessions, the report's flag and reason, the command line and the Dagster check."""

from functools import cache

import dagster as dg
import pandas as pd
import pytest

from assets.metadata import data_fresh_check
from assets.risk import FRESHNESS_CHECK, PortfolioRiskConfig
from risk_platform import paths
from risk_platform.cli import main
from risk_platform.errors import InputError
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.engine import compute_portfolio_risk
from risk_platform.risk.market import clock_staleness, prepare_market, today_utc

BOOK = ["risk", "--portfolio", str(paths.SAMPLE_PORTFOLIO), "--mc-scenarios", "0", "--no-stress"]


def market(market_inputs, instruments, evaluation_date):
    return prepare_market(market_inputs.panel, market_inputs.returns, instruments,
                          evaluation_date=pd.Timestamp(evaluation_date))


@pytest.fixture(scope="module")
def report(market_inputs, instruments):
    """The sample book on the bundled data, by evaluation date."""
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)

    @cache
    def _report(evaluation_date: str, limit: int = 5):
        config = RiskConfig(fit_copula=False, mc_scenarios=2000, evaluation_date=pd.Timestamp(evaluation_date),
                            max_data_age_sessions=limit)
        return compute_portfolio_risk(book, market_inputs.panel, market_inputs.returns, instruments, config=config,
                                      stress=False)

    return _report


def test_feed_age_counts_venue_sessions_after_the_last_value(market_inputs, instruments):
    state = market(market_inputs, instruments, "2025-01-10")
    # NYSE: 2, 3, 6, 7, 8 and 10 January (closed on the 9th, national day of mourning); the Fed's calendar
    # was open on the 9th; Tokyo (N225 last valued 2024-12-30) was closed 31 December to 3 January
    assert (state.age["SPX"], state.age["UST10Y"], state.age["N225"]) == (6, 7, 5)
    assert len(state.age) == 28 and state.evaluation_date == pd.Timestamp("2025-01-10")
    assert clock_staleness(state, 7) == ""
    assert clock_staleness(state, 5) == ("27 of 28 feeds more than 5 sessions old on the evaluation date 2025-01-10:"
                                         " AUDUSD last valued 2024-12-31 (7 sessions) and 26 more")
    early = market(market_inputs, instruments, "2025-01-08")
    assert (early.age["SPX"], early.age["N225"]) == (5, 3) and clock_staleness(early, 5) == ""


def test_bundled_data_read_on_2026_11_30_are_stale_against_the_clock(report):
    risk = report("2026-11-30")
    # NYSE sessions after 2024-12-31: 250 in 2025, 229 in 2026 to 30 November (238 weekdays, 9 holidays)
    assert risk.feed_age_sessions["SPX"] == 479 and risk.evaluation_date == "2026-11-30"
    assert risk.stale_against_clock and risk.asof == "2024-12-31"
    assert risk.stale_against_clock_reason.startswith("28 of 28 feeds more than 5 sessions old on the evaluation"
                                                      " date 2026-11-30: BRENT last valued 2024-12-31")
    assert f"STALE AGAINST THE CLOCK: {risk.stale_against_clock_reason}" in risk.summary().splitlines()[1]
    assert risk.to_dict()["stale_against_clock"] is True
    fresh = report("2025-01-03")
    assert not fresh.stale_against_clock and fresh.stale_against_clock_reason == ""
    line = fresh.summary().splitlines()[1]
    assert line == "  data age on the evaluation date 2025-01-03: at most 2 sessions (limit 5)"
    assert not report("2025-01-10", limit=7).stale_against_clock  # the limit is a setting


def test_an_evaluation_date_after_today_or_before_the_asof_is_refused(market_inputs, instruments):
    tomorrow = today_utc() + pd.Timedelta(days=1)
    with pytest.raises(InputError, match=f"evaluation date {tomorrow:%Y-%m-%d} is after today"):
        market(market_inputs, instruments, tomorrow)
    with pytest.raises(InputError, match="evaluation date 2024-12-30 is before the as-of date 2024-12-31"):
        market(market_inputs, instruments, "2024-12-30")


def test_the_command_line_says_it_in_one_line(capsys):
    assert main([*BOOK, "--evaluation-date", "2026-11-30"]) == 0
    out, err = capsys.readouterr()
    assert "  STALE AGAINST THE CLOCK: 28 of 28 feeds more than 5 sessions old on the evaluation date 2026-11-30" in out
    assert err.startswith("risk-platform: warning: stale against the clock: 28 of 28 feeds")
    assert main([*BOOK, "--evaluation-date", "2025-01-03"]) == 0
    out, err = capsys.readouterr()
    assert "STALE AGAINST" not in out + err and "data age on the evaluation date 2025-01-03: at most 2" in out
    assert main([*BOOK, "--evaluation-date", "2024-06-28", "--asof", "2024-06-28"]) == 0  # a historical run
    assert "STALE AGAINST" not in capsys.readouterr().out
    assert main([*BOOK]) == 0  # default: today (UTC); the bundled data end 2024-12-31
    assert f"sessions old on the evaluation date {today_utc():%Y-%m-%d}" in capsys.readouterr().out
    assert main([*BOOK, "--evaluation-date", "2024-12-30"]) == 2
    assert capsys.readouterr().err == ("risk-platform: error: evaluation date 2024-12-30 is before the as-of date"
                                       " 2024-12-31 (the as-of date is the date of the market data used)\n")


def test_the_data_fresh_check_warns_and_fails_with_error_beyond_the_configured_limit(report):
    stale = data_fresh_check(report("2026-11-30"), FRESHNESS_CHECK)
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
    assert stale.description.startswith("STALE AGAINST THE CLOCK: 28 of 28 feeds")
    assert stale.metadata["oldest_feed_sessions"].value == 493  # BRENT (ICE Futures Europe)
    error = data_fresh_check(report("2026-11-30"), FRESHNESS_CHECK, error_after=20)
    assert not error.passed and error.severity == dg.AssetCheckSeverity.ERROR
    fresh = data_fresh_check(report("2025-01-03"), FRESHNESS_CHECK, error_after=20)
    assert fresh.passed and fresh.description.startswith("data age on the evaluation date 2025-01-03")
    # an error limit below the age fails with ERROR even within the warning limit
    assert data_fresh_check(report("2025-01-03"), FRESHNESS_CHECK, error_after=1).severity.value == "ERROR"


def test_the_asset_config_gives_the_engine_its_evaluation_date():
    config = PortfolioRiskConfig(evaluation_date="2025-01-10", max_data_age_sessions=7).risk_config()
    assert config.evaluation_date == pd.Timestamp("2025-01-10") and config.max_data_age_sessions == 7
    assert PortfolioRiskConfig().risk_config().evaluation_date is None  # today (UTC), embedded defaults included
    with pytest.raises(InputError, match="evaluation_date '10/01/2025' is not a YYYY-MM-DD date"):
        PortfolioRiskConfig(evaluation_date="10/01/2025").risk_config()
