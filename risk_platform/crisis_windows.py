"""The crisis windows of the platform, one table with one key set: the crisis-validation partitions, the
risk engine's historical stress replays and the crisis correlations all read it (DESIGN.md's dates)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from risk_platform.errors import InputError


@dataclass(frozen=True)
class CrisisWindow:
    """One named crisis: its key (the validation partition key), name and first and last day (inclusive)."""

    key: str
    name: str
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def train_end(self) -> pd.Timestamp:
        """The last date any training row or training target may carry when validating on this window."""
        return self.start - pd.Timedelta(days=1)


CRISIS_WINDOWS = tuple(CrisisWindow(k, n, pd.Timestamp(s), pd.Timestamp(e)) for k, n, s, e in (
    ("gfc_2008", "Global financial crisis", "2008-09-15", "2009-03-31"),
    ("euro_2011", "Euro crisis", "2011-08-01", "2011-10-31"),
    ("china_2015", "China devaluation", "2015-08-10", "2015-09-30"),
    ("volmageddon_2018", "Volmageddon", "2018-01-29", "2018-04-30"),
    ("covid_2020", "COVID", "2020-02-20", "2020-04-30"),
    ("rates_2022", "Rates shock", "2022-01-03", "2022-10-31"),
    ("svb_2023", "SVB", "2023-03-08", "2023-03-31"),
))
WINDOW_KEYS = tuple(w.key for w in CRISIS_WINDOWS)


def crisis_window(key: str) -> CrisisWindow:
    """The window named ``key`` (an :class:`InputError` naming the known keys otherwise)."""
    for window in CRISIS_WINDOWS:
        if window.key == key:
            return window
    raise InputError(f"unknown crisis window '{key}' (expected one of {', '.join(WINDOW_KEYS)})")
