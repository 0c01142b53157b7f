"""Venue calendars from ``exchange_calendars``: which days each instrument's venue was open.

FRED series (Treasury yields from H.15, FX rates and the broad dollar index from H.10) are published on
Federal Reserve business days, which no exchange calendar describes: ``US_FED`` is an ``exchange_calendars``
calendar built from pandas' US federal holiday rules (New Year, MLK, Washington's Birthday, Memorial Day,
Juneteenth from 2021, Independence Day, Labor Day, Columbus Day, Veterans Day, Thanksgiving, Christmas),
with the Federal Reserve's observance: a holiday on a Sunday is observed on Monday, but on a Saturday the
Reserve Banks stay open the Friday before (so FRED has prints on e.g. 2021-12-31).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
import pandas as pd
from exchange_calendars.exchange_calendar import HolidayCalendar
from pandas.tseries.holiday import Holiday, USFederalHolidayCalendar, nearest_workday, sunday_to_monday

from risk_platform.errors import InputError
from risk_platform.io import atomic_write

FED_CALENDAR = "US_FED"
CALENDAR_START = pd.Timestamp("1995-01-01")  # the earliest built by default; older data extend it
CACHE_VERSION = 2  # bump when a calendar defined here changes


class USFederalReserveCalendar(xcals.ExchangeCalendar):
    """Federal Reserve business days (the publication calendar of H.15 and H.10 series)."""

    name = FED_CALENDAR
    tz = ZoneInfo("America/New_York")
    open_times = ((None, dt.time(9)),)
    close_times = ((None, dt.time(17)),)

    @property
    def regular_holidays(self) -> HolidayCalendar:
        return HolidayCalendar([_fed_observance(rule) for rule in USFederalHolidayCalendar.rules])


def _fed_observance(rule: Holiday) -> Holiday:
    """Fixed-date federal holidays move Sunday -> Monday only (pandas moves Saturday -> Friday too)."""
    if rule.observance is not nearest_workday:
        return rule
    return Holiday(rule.name, month=rule.month, day=rule.day, start_date=rule.start_date,
                   end_date=rule.end_date, observance=sunday_to_monday)


@cache
def _register() -> None:
    xcals.register_calendar_type(FED_CALENDAR, USFederalReserveCalendar, force=True)


@cache
def known_calendars() -> frozenset[str]:
    """Names accepted in the instruments' ``calendar`` column."""
    _register()
    return frozenset(xcals.get_calendar_names(include_aliases=True))


def _cache_path(name: str, start_year: int, end_year: int) -> Path:
    from risk_platform.paths import state_dir

    stem = f"{name}-{CACHE_VERSION}-{xcals.__version__}-{start_year}-{end_year}.npy"
    return state_dir() / "cache" / "calendars" / stem


@cache
def _calendar_sessions(name: str, start_year: int, end_year: int) -> pd.DatetimeIndex:
    """All sessions of a calendar from January of ``start_year`` (or the first day the library records it) to
    ``end_year``; cached on disk (building one costs about 0.5 s)."""
    path = _cache_path(name, start_year, end_year)
    if path.exists():
        return pd.DatetimeIndex(np.load(path))
    built = _build_sessions(name, start_year, end_year)
    try:
        atomic_write(path, lambda tmp: _save_array(tmp, built.to_numpy()))
    except OSError:
        pass  # a read-only state dir only costs speed
    return built


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)


def _build_sessions(name: str, start_year: int, end_year: int) -> pd.DatetimeIndex:
    _register()
    start = pd.Timestamp(f"{start_year}-01-01")
    bound = _calendar_class(name).bound_min()
    calendar = xcals.get_calendar(name, start=start if bound is None else max(start, bound),
                                  end=pd.Timestamp(f"{end_year}-12-31"))
    found = calendar.sessions
    return pd.DatetimeIndex(found.tz_localize(None) if found.tz is not None else found, freq=None)


def _start_year(start: pd.Timestamp) -> int:
    """The first year a calendar is built from: ``CALENDAR_START``'s, earlier when the data start earlier (so
    every feed from 1995 on shares one cached calendar, and a feed from 1985 gets one that covers it)."""
    return min(CALENDAR_START.year, start.year)


def sessions(calendar: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Trading sessions of ``calendar`` between ``start`` and ``end`` inclusive (naive dates)."""
    last = calendar_last_day(calendar)
    if last is not None and end > last:
        raise InputError(f"calendar {calendar} is recorded only to {last:%Y-%m-%d}; asked for {end:%Y-%m-%d}")
    end_year = max(end.year, pd.Timestamp.today().year) + 1  # a year beyond: the next session after ``end``
    end_year = end_year if last is None else min(end_year, last.year)
    all_sessions = _calendar_sessions(calendar, _start_year(start), end_year)
    first_recorded = _calendar_class(calendar).bound_min()  # built from January of start's year unless later
    if first_recorded is not None and start < first_recorded:
        raise InputError(f"calendar {calendar} starts at {all_sessions[0]:%Y-%m-%d}; asked for {start:%Y-%m-%d}")
    return all_sessions[(all_sessions >= start) & (all_sessions <= end)]


def _calendar_class(calendar: str) -> type[xcals.ExchangeCalendar]:
    """The calendar's class, not an instance: building one costs about 0.2 s."""
    _register()
    dispatcher = xcals.calendar_utils.global_calendar_dispatcher
    return dispatcher._calendar_factories[dispatcher.resolve_alias(calendar)]


@cache
def calendar_last_day(calendar: str) -> pd.Timestamp | None:
    """The last day ``calendar`` can describe (XHKG records holidays to 2049-12-31); None when unbounded."""
    bound = _calendar_class(calendar).bound_max()
    return None if bound is None else pd.Timestamp(bound).tz_localize(None).normalize()
