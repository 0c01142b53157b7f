"""What the correlation features show a person: a heatmap of the latest correlation matrix, its series in clustered
order, and for a wide universe only the most connected series (stated in the title)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from risk_platform.render.charts import heatmap, markdown_image

HEATMAP_MAX_SERIES = 60  # beyond this the map keeps the series with the largest sum of |corr| to the others


def heatmap_series(matrix: pd.DataFrame, max_series: int = HEATMAP_MAX_SERIES) -> tuple[list[str], str]:
    """The series the map shows, in average-linkage clustered order of 1 - |corr|, and how they were chosen:
    series without any defined correlation are left out, and above ``max_series`` only the ``max_series``
    with the largest sum of |corr| to the others are kept."""
    values = np.nan_to_num(np.abs(matrix.to_numpy(dtype=float)))
    np.fill_diagonal(values, 0.0)
    strength = pd.DataFrame(values, index=matrix.index, columns=matrix.columns)
    mass = strength.sum(axis=1)
    connected = mass[mass > 0]
    how = f"{len(connected)} series"
    if len(connected) > max_series:
        connected = connected.sort_values(ascending=False, kind="stable").iloc[:max_series]
        how = f"the {max_series} of {len(mass)} series with the largest sum of |corr|"
    names = sorted(connected.index)
    if len(names) > 2:
        distance = 1.0 - strength.loc[names, names].to_numpy()
        np.fill_diagonal(distance, 0.0)
        order = leaves_list(linkage(squareform(distance, checks=False), method="average"))
        names = [names[i] for i in order]
    return names, how


def correlation_heatmap(matrix: pd.DataFrame, date: pd.Timestamp, window: int) -> str:
    """The latest ``window``-day correlation matrix as inline Markdown with its title (red positive, blue
    negative, blank where a pair has too few common returns)."""
    names, how = heatmap_series(matrix)
    title = f"{window}-day correlation on {date:%Y-%m-%d}: {how}, clustered order"
    if not names:
        return f"**{title}**: no pair has a defined correlation"
    png = heatmap(matrix.loc[names, names], title, "correlation", -1.0, 1.0, cmap="RdBu_r", max_xticks=len(names))
    return f"**{title}**\n\n{markdown_image(png, 'latest correlation matrix')}"
