"""Venue sessions come from exchange_calendars (plus the Federal Reserve calendar built on its machinery)."""

import pandas as pd

from risk_platform.data.calendars import sessions

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
