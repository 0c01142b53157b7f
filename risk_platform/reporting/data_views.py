"""What the market-data gate shows a person: a feeds x months map of the missing share (venue sessions without a
value, holidays excluded by each feed's exchange calendar), rejected feeds marked."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from risk_platform.data.calendars import sessions
from risk_platform.render.charts import heatmap, markdown_image

MAP_MONTHS = 24  # the months the map shows, ending with the delivery's last month


def monthly_missing_share(raw: pd.DataFrame, instruments: pd.DataFrame, months: int = MAP_MONTHS) -> pd.DataFrame:
    """Symbols x months (``YYYY-MM``, the last ``months`` of the delivery): the share of the feed's venue sessions
    in the month without a value; NaN before the feed's first value or in a month without a session."""
    end = pd.Timestamp(raw["date"].max())
    start = (end - pd.DateOffset(months=months - 1)).replace(day=1)
    columns = pd.period_range(start, end, freq="M")
    calendar_of = instruments.drop_duplicates("symbol").set_index("symbol")["calendar"]
    rows = {}
    for symbol, feed in raw.groupby("symbol", sort=False):
        valued = pd.DatetimeIndex(feed.loc[feed["value"].notna(), "date"])
        first = max(start, valued.min()) if len(valued) else end
        venue = sessions(calendar_of[symbol], first, end)
        missing = pd.Series(~venue.isin(valued), index=venue)
        rows[symbol] = missing.groupby(venue.to_period("M")).mean().reindex(columns)
    frame = pd.DataFrame(rows).T.reindex(columns=columns)
    frame.columns = [str(c) for c in columns]
    return frame


def missing_share_map(raw: pd.DataFrame, instruments: pd.DataFrame, rejected: Sequence[str], threshold: float) -> str:
    """The map as inline Markdown with its title (the gate's threshold on the colour scale's midpoint)."""
    frame = monthly_missing_share(raw, instruments) * 100.0
    title = (f"Missing share per feed and month, last {frame.shape[1]} months (% of venue sessions, holidays"
             f" excluded; the gate rejects above {threshold:.0%})")
    png = heatmap(frame, "\n".join(title.split(" (", 1)[:1]), "% missing", 0.0, max(2 * 100 * threshold, 10.0),
                  marked_rows=rejected)
    return f"**{title}**\n\n{markdown_image(png, 'missing share map')}"
