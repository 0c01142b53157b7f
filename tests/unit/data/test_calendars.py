"""Venue sessions come from exchange_calendars (plus the Federal Reserve calendar built on its machinery)."""

import exchange_calendars as xcals
import pandas as pd
import pytest

from risk_platform.data.calendars import sessions
from risk_platform.data.loading import load_prices
from risk_platform.data.quality import apply_gate, completeness_table
from risk_platform.errors import InputError

D = pd.Timestamp


def test_fed_calendar_closes_on_federal_holidays_only():
    days = sessions("US_FED", D("2024-10-01"), D("2024-11-30"))
    assert D("2024-10-14") not in days  # Columbus Day
    assert D("2024-11-11") not in days  # Veterans Day
    assert D("2024-11-28") not in days  # Thanksgiving
    good_friday = sessions("US_FED", D("2024-03-25"), D("2024-03-29"))
    assert D("2024-03-29") in good_friday  # Fed open, NYSE closed
    assert D("2024-03-29") not in sessions("XNYS", D("2024-03-25"), D("2024-03-29"))
    assert D("2023-06-19") not in sessions("US_FED", D("2023-06-01"), D("2023-06-30"))  # Juneteenth


def test_nyse_closed_after_september_11():
    days = sessions("XNYS", D("2001-09-10"), D("2001-09-18"))
    assert list(days.strftime("%m-%d")) == ["09-10", "09-17", "09-18"]


def test_tokyo_golden_week_is_a_holiday_not_missing_data():
    days = sessions("XTKS", D("2019-04-26"), D("2019-05-08"))
    assert list(days.strftime("%m-%d")) == ["04-26", "05-07", "05-08"]


def test_fed_is_open_on_the_friday_before_a_saturday_holiday():
    days = sessions("US_FED", D("2021-12-27"), D("2022-01-04"))
    assert D("2021-12-31") in days  # New Year's Day 2022 was a Saturday
    assert D("2021-06-18") in sessions("US_FED", D("2021-06-14"), D("2021-06-18"))
    assert D("2023-01-02") not in sessions("US_FED", D("2022-12-30"), D("2023-01-03"))  # Sunday -> Monday


def test_calendars_reach_back_to_the_data_start():
    days = sessions("XNYS", D("1985-01-02"), D("1985-12-31"))
    assert days[0] == D("1985-01-02")
    assert D("1985-09-27") not in days  # Hurricane Gloria closed the NYSE
    assert D("1985-09-26") in days
    fed = sessions("US_FED", D("1980-01-01"), D("1980-01-31"))
    assert fed[0] == D("1980-01-02") and D("1980-01-21") in fed  # MLK Day was no federal holiday before 1986


def test_a_calendar_the_library_does_not_record_that_early_names_its_first_session():
    with pytest.raises(InputError, match=r"^calendar XTKS starts at 1997-01-06; asked for 1990-01-04$"):
        sessions("XTKS", D("1990-01-04"), D("1998-01-01"))


def _spx_from_1985(bundled_prices_text: pd.DataFrame) -> pd.DataFrame:
    """The real SPX closes laid on the NYSE sessions from 1985-01-02 (as a feed from 1985 would arrive)."""
    venue = xcals.get_calendar("XNYS", start=D("1985-01-01"), end=D("1994-12-31")).sessions.tz_localize(None)
    spx = bundled_prices_text[bundled_prices_text["symbol"] == "SPX"].head(len(venue))
    return pd.DataFrame({"date": venue.strftime("%Y-%m-%d"), "symbol": "SPX", "value": spx["value"].to_numpy()})


def test_a_feed_from_1985_passes_the_gate_and_a_missing_1986_day_is_counted(
        bundled_prices_text, instruments, suite, write_prices):
    feed = _spx_from_1985(bundled_prices_text)
    whole = apply_gate(completeness_table(load_prices(write_prices(feed), instruments).frame, instruments), suite)
    row = whole.table.set_index("symbol").loc["SPX"]
    assert whole.passed and row["window_start"] == "1985-01-02" and row["missing_sessions"] == 0
    assert row["expected_sessions"] == len(feed)
    gapped = feed[feed["date"] != "1986-03-14"]
    table = completeness_table(load_prices(write_prices(gapped, "gapped.csv"), instruments).frame, instruments)
    row = table.set_index("symbol").loc["SPX"]
    assert row["missing_sessions"] == 1 and row["first_missing_dates"] == "1986-03-14"
