"""The gate's missing-share map: per feed and month, the share of the venue's sessions without a value."""

import numpy as np
import pandas as pd

from risk_platform.data.calendars import sessions
from risk_platform.reporting.data_views import missing_share_map, monthly_missing_share


def test_the_map_counts_venue_sessions_without_a_value_holidays_excluded(raw, instruments):
    frame = raw.frame
    december = sessions("XNYS", pd.Timestamp("2024-12-01"), pd.Timestamp("2024-12-31"))
    dropped = december[-5:]  # the last five NYSE sessions of the delivery
    gappy = frame[~((frame["symbol"] == "GOLD") & frame["date"].isin(dropped))]
    shares = monthly_missing_share(gappy, instruments, months=3)
    assert list(shares.columns) == ["2024-10", "2024-11", "2024-12"]
    assert shares.at["GOLD", "2024-12"] == 5 / len(december)  # Christmas is not a session, so not missing
    assert shares.at["SPX", "2024-12"] == 0.0 and shares.at["GOLD", "2024-11"] == 0.0
    late = frame[~((frame["symbol"] == "EEM") & (frame["date"] < pd.Timestamp("2024-11-15")))]
    assert np.isnan(monthly_missing_share(late, instruments, months=3).at["EEM", "2024-10"])  # before its start
    assert "missing share map](data:image/png;base64," in missing_share_map(gappy, instruments, ["GOLD"], 0.05)
