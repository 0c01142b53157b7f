"""The latest correlation heatmap: which series it shows, in which order, and that it renders inline."""

import numpy as np
import pandas as pd

from risk_platform.reporting.feature_views import correlation_heatmap, heatmap_series


def block_matrix(n: int, blocks: int, seed: int = 0) -> pd.DataFrame:
    """Correlations of ``n`` series in ``blocks`` groups (0.8 within a group, ~0 across), names shuffled."""
    rng = np.random.default_rng(seed)
    group = np.arange(n) % blocks
    corr = np.where(group[:, None] == group[None, :], 0.8, 0.0) + rng.normal(0, 0.01, (n, n))
    corr = (corr + corr.T) / 2
    np.fill_diagonal(corr, 1.0)
    names = [f"S{i:03d}" for i in rng.permutation(n)]
    return pd.DataFrame(corr, index=names, columns=names)


def test_clustered_order_keeps_each_block_together():
    matrix = block_matrix(12, 3)
    names, how = heatmap_series(matrix)
    assert sorted(names) == sorted(matrix.index) and how == "12 series"
    groups = [list(matrix.index).index(s) % 3 for s in names]
    assert sum(a != b for a, b in zip(groups, groups[1:], strict=False)) == 2  # three contiguous runs


def test_a_wide_universe_shows_the_most_connected_series_and_says_so():
    matrix = block_matrix(100, 4)
    loner = matrix.index[7]
    matrix.loc[loner, :] = matrix.loc[:, loner] = 0.0  # uncorrelated with everything: the least connected
    matrix.loc[loner, loner] = 1.0
    unknown = matrix.index[9]
    matrix.loc[unknown, :] = matrix.loc[:, unknown] = np.nan  # no defined correlation: never shown
    names, how = heatmap_series(matrix, max_series=60)
    assert len(names) == 60 and loner not in names and unknown not in names
    assert how == "the 60 of 100 series with the largest sum of |corr|"
    text = correlation_heatmap(matrix, pd.Timestamp("2024-12-31"), 63)
    assert text.startswith("**63-day correlation on 2024-12-31: the 60 of 100 series") and "base64," in text
