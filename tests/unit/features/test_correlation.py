"""Streaming rolling correlations, top-k neighbourhoods and the latest matrix, against numpy / pandas values."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from risk_platform.data.quality import accepted_panel, apply_gate, completeness_table
from risk_platform.errors import InputError
from risk_platform.features.correlation import (
    LATEST_TABLE,
    NEIGHBOUR_TABLE,
    RECOUNT_EVERY,
    correlation_tables,
    latest_correlation,
    neighbour_edges,
    rolling_correlation_matrices,
    top_neighbours,
)
from risk_platform.features.returns import compute_returns, wide_returns
from risk_platform.features.store import FeatureStore


def panel(n_dates=400, symbols="ABCDE", seed=1) -> pd.DataFrame:
    """Correlated returns (a common factor) with a closed venue, a missing day and, above 3 series, a late
    starter."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(n_dates, 1))
    loadings = np.linspace(-0.9, 0.9, len(symbols))
    x = common * loadings + rng.normal(size=(n_dates, len(symbols))) * 0.6
    x[5:9, -1] = np.nan  # a venue closed
    if len(symbols) > 3:
        x[:150, 3] = np.nan  # a late starter
    x[n_dates // 2, 0] = np.nan
    return pd.DataFrame(x, columns=list(symbols), index=pd.bdate_range("2023-01-02", periods=n_dates))


def pandas_matrices(wide: pd.DataFrame) -> pd.DataFrame:
    return wide.rolling(63, min_periods=42).corr()


def test_matrices_match_pandas_rolling_corr_on_common_dates_across_recounts():
    wide = panel()
    assert len(wide) > RECOUNT_EVERY + 63  # the running sums are shifted and recounted
    expected = pandas_matrices(wide)
    for date, corr in rolling_correlation_matrices(wide):
        reference = expected.loc[date].to_numpy()
        np.fill_diagonal(reference, np.where(np.isnan(np.diag(reference)), np.nan, 1.0))
        defined = ~np.isnan(reference)
        np.fill_diagonal(corr, np.where(np.isnan(np.diag(corr)), np.nan, 1.0))
        assert_array_equal(~np.isnan(corr), defined, err_msg=str(date))
        assert_allclose(corr[defined], reference[defined], atol=1e-10, err_msg=str(date))


def test_stored_value_matches_numpy_and_the_first_date_has_42_observations():
    wide = panel(120, "ABC")
    tables = correlation_tables(wide, k=2)
    day = wide.index[80]
    rows = tables.neighbours[(tables.neighbours["date"] == day) & (tables.neighbours["symbol"] == "A")]
    got = rows.loc[rows["neighbour"] == "C", "corr"].item()
    window = wide.loc[:day].tail(63).dropna(subset=["A", "C"])
    assert len(window) < 63  # C's venue closed, A missing a day: common dates only
    assert_allclose(got, np.corrcoef(window["A"], window["C"])[0, 1], atol=1e-6)
    assert tables.neighbours["date"].min() == wide.index[41]  # first date with 42 observations


def test_a_series_flat_over_the_window_has_no_correlation_after_the_sums_drift():
    wide = panel(300, "ABC")
    wide.iloc[100:260, 2] = 0.0  # C stops moving (a peg): its sums are added and dropped, not recounted
    matrices = dict(rolling_correlation_matrices(wide))
    assert np.isnan(matrices[wide.index[200]][2, :2]).all()  # window 138..200: C constant
    day = wide.index[161]  # window 99..161: one move of C left
    window = wide.iloc[99:162].dropna()
    assert_allclose(matrices[day][0, 2], np.corrcoef(window["A"], window["C"])[0, 1], atol=1e-9)


def test_top_neighbours_by_absolute_correlation_strongest_first():
    corr = np.array([
        [1.0, 0.2, -0.9, np.nan],
        [0.2, 1.0, 0.5, -0.5],
        [-0.9, 0.5, 1.0, 0.1],
        [np.nan, -0.5, 0.1, 1.0],
    ])
    columns, values = top_neighbours(corr, 2)
    assert_array_equal(columns, [[2, 1], [2, 3], [0, 1], [1, 2]])  # B: |0.5| twice, the lower column first
    assert_allclose(values, [[-0.9, 0.2], [0.5, -0.5], [-0.9, 0.5], [-0.5, 0.1]])
    columns, values = top_neighbours(corr, 10)  # k >= N: every defined neighbour, then -1 / NaN
    assert columns.shape == (4, 3)
    assert_array_equal(columns[0], [2, 1, -1]) and np.isnan(values[0, 2])
    assert_array_equal(columns[3], [1, 2, -1])


def test_neighbourhoods_are_pandas_top_k_by_absolute_correlation():
    wide = panel()
    tables = correlation_tables(wide, k=3)
    day = wide.index[350]
    reference = pandas_matrices(wide).loc[day]
    got = tables.neighbours[tables.neighbours["date"] == day]
    assert len(got) == 5 * 3 and list(got["rank"].unique()) == [1, 2, 3]
    for symbol, rows in got.groupby("symbol", observed=True):
        others = reference[symbol].drop(symbol).dropna()
        expected = others.reindex(others.abs().sort_values(ascending=False).index)[:3]
        assert list(rows.sort_values("rank")["neighbour"].astype(str)) == list(expected.index)
        assert_allclose(rows.sort_values("rank")["corr"], expected.to_numpy(), atol=1e-6)
    assert tables.k == 3
    assert correlation_tables(wide[["A", "B"]], k=10).k == 1  # k < N handled


def test_latest_matrix_is_the_last_dates_pandas_matrix():
    wide = panel()
    tables = correlation_tables(wide)
    reference = pandas_matrices(wide).loc[wide.index[-1]]
    assert tables.latest_date == wide.index[-1]
    assert (tables.latest["symbol_a"] < tables.latest["symbol_b"]).all() and len(tables.latest) == 10
    matrix = tables.latest_matrix()
    assert_allclose(matrix.to_numpy(), reference.loc[matrix.index, matrix.columns].to_numpy(), atol=1e-10)


def test_a_row_dated_t_uses_returns_up_to_t_only():
    wide = panel()
    changed = wide.copy()
    future = wide.index[300]
    changed.loc[future, "B"] = 25.0
    changed.loc[future:, "E"] = changed.loc[future:, "E"] * -3.0
    before, after = correlation_tables(wide, k=2).neighbours, correlation_tables(changed, k=2).neighbours
    pd.testing.assert_frame_equal(before[before["date"] < future], after[after["date"] < future])
    assert not before[before["date"] >= future].reset_index(drop=True).equals(
        after[after["date"] >= future].reset_index(drop=True))


def test_bundled_data_with_holidays_and_gaps_is_point_in_time(raw, instruments, suite):
    decision = apply_gate(completeness_table(raw.frame, instruments), suite)
    accepted = accepted_panel(raw.frame, instruments, decision)
    accepted = accepted[accepted["symbol"].isin(["SPX", "UST10Y", "WTI", "N225"])]
    cutoff = pd.Timestamp("2020-03-16")
    full = correlation_tables(wide_returns(compute_returns(accepted, instruments).frame), k=2)
    cut_panel = accepted[accepted["date"] <= cutoff]
    cut = correlation_tables(wide_returns(compute_returns(cut_panel, instruments).frame), k=2)
    pd.testing.assert_frame_equal(full.neighbours[full.neighbours["date"] <= cutoff], cut.neighbours)
    assert cut.latest_date == cutoff


def test_store_round_trip_and_readers(tmp_path):
    wide = panel()
    tables = correlation_tables(wide, k=2)
    store = FeatureStore(tmp_path)
    store.write(NEIGHBOUR_TABLE, tables.neighbours)
    store.write(LATEST_TABLE, tables.latest)
    pd.testing.assert_frame_equal(store.read(NEIGHBOUR_TABLE, verify=True), tables.neighbours)
    as_of = pd.Timestamp("2023-12-31")  # a Sunday: the neighbourhood of the last date before it
    edges = neighbour_edges(store, as_of)
    assert edges.date == pd.Timestamp("2023-12-29")
    assert edges.frame.equals(neighbour_edges(tables.neighbours, as_of).frame)
    assert len(edges.frame) == 5 * 2
    index = edges.index(["E", "D", "C", "B", "A"])
    first = edges.frame.iloc[0]  # A's strongest neighbour informs A
    assert list(index[:, 0]) == [4 - "ABCDE".index(first["neighbour"]), 4]
    assert edges.index(["A", "B"]).shape[1] == (edges.frame["symbol"].isin(["A", "B"])
                                                & edges.frame["neighbour"].isin(["A", "B"])).sum()
    date, matrix = latest_correlation(store)
    assert date == wide.index[-1]
    pd.testing.assert_frame_equal(matrix, tables.latest_matrix())
    with pytest.raises(InputError, match="no neighbourhood dated on or before 2022-12-31"):
        neighbour_edges(store, pd.Timestamp("2022-12-31"))


def test_fewer_than_two_series_or_too_short_a_history_is_a_named_error():
    with pytest.raises(InputError, match="at least 2 series"):
        correlation_tables(panel(100, "A"))
    with pytest.raises(InputError, match="42 common returns in any 63-date window"):
        correlation_tables(panel(30, "AB"))
    ended = panel(200, "ABC")
    ended.iloc[150:, 1:] = np.nan  # B and C stop: no pair left in the last window
    with pytest.raises(InputError, match="42 common returns in the 63 dates up to the last date"):
        correlation_tables(ended)
