"""The LSTM's market-stress inputs on the real bundled panel: the roles come from the instruments table, each
figure is what its definition says (checked against the raw VIX levels and by counting), nothing dated after a
day changes the figures up to it, and a role the model was trained with but the table lacks is an error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from risk_platform.errors import InputError
from risk_platform.features.market_stress import LEVEL_DAYS, MARKET_FEATURES, MarketRoles, market_features, market_roles
from risk_platform.models.lstm import build_sequences

SLICE = ["SPX", "N225", "UST10Y", "HYG", "VIX", "EURUSD"]
CUT = pd.Timestamp("2015-06-30")


@pytest.fixture(scope="module")
def rows(daily_features) -> pd.DataFrame:
    keep = daily_features["symbol"].isin(SLICE) & daily_features["date"].between("2011-01-01", "2016-12-31")
    return daily_features[keep]


@pytest.fixture(scope="module")
def roles(instruments) -> MarketRoles:
    return market_roles(instruments, SLICE)


def test_the_roles_are_the_bundled_references(roles):
    assert roles == MarketRoles("VIX", "UST10Y", "HYG", ())
    assert MarketRoles.from_metadata(roles.metadata()) == roles and MarketRoles.from_metadata(None) is None


def test_each_figure_is_its_definition(rows, roles, market_inputs):
    figures = market_features(rows, roles)
    vix = market_inputs.panel[market_inputs.panel["symbol"] == "VIX"].set_index("date")["value"]
    vix = vix.reindex(pd.DatetimeIndex(rows.loc[rows["symbol"] == "VIX", "date"]))  # its sessions in the slice
    expected = np.log(vix / vix.rolling(LEVEL_DAYS).mean()).dropna()
    assert_allclose(figures.loc[expected.index, "vol_level"], expected, rtol=1e-4, atol=1e-5)
    assert (figures.loc[figures.index < expected.index[0], "vol_level"] == 0).all()  # before a year of history
    day = pd.Timestamp("2015-08-24")  # China devaluation: a stressed day
    on_day = rows[rows["date"] == day].set_index("symbol")
    z = on_day["ret"] / on_day["rv_63"]
    assert figures.at[day, "stress_share"] == pytest.approx((z.abs() > 2).mean())
    assert figures.at[day, "stress_share"] > 0.5
    assert figures.at[day, "rate_move"] == pytest.approx(abs(z["UST10Y"]))
    assert figures.at[day, "credit_move"] == pytest.approx(z["HYG"])
    assert figures.at[day, "vol_change"] == pytest.approx(on_day.at["VIX", "ret"])
    assert list(figures.columns) == list(MARKET_FEATURES) and np.isfinite(figures.to_numpy()).all()


def test_no_input_dated_up_to_a_day_reads_data_after_it(rows, roles):
    """Changing every row after CUT (returns and scales x5, a series dropped, rows removed) or truncating the table
    there leaves every figure and every model input window dated up to CUT unchanged."""
    later = rows["date"] > CUT
    shocked = rows.assign(ret=rows["ret"].where(~later, rows["ret"] * 5),
                          rv_63=rows["rv_63"].where(~later, rows["rv_63"] * 5))
    shocked = shocked[~(later & (shocked["symbol"] == "EURUSD"))].drop(index=shocked.index[later][::7], errors="ignore")
    full, changed, truncated = (market_features(t, roles) for t in (rows, shocked, rows[~later]))
    assert_array_equal(changed[:CUT].to_numpy(), full[:CUT].to_numpy())
    assert_allclose(truncated.to_numpy(), full[:CUT].to_numpy(), rtol=1e-6, atol=1e-7)
    assert not np.allclose(changed[CUT:].to_numpy()[1:], full.reindex(changed.index)[CUT:].to_numpy()[1:])
    windows = [build_sequences(t, 8, "all", pd.Timestamp.max, market=roles, symbols=["SPX", "N225"])
               for t in (rows, shocked)]
    up_to = [pd.DatetimeIndex(w.origin) <= CUT for w in windows]
    assert_array_equal(windows[1].x[up_to[1]], windows[0].x[up_to[0]])
    assert windows[0].x.shape[-1] == 6 + len(MARKET_FEATURES)


def test_a_role_missing_from_the_table_is_an_error_not_a_zero(rows, roles):
    with pytest.raises(InputError, match=r"^VIX \(the LSTM's volatility reference, a market input\) has no rows in"
                                         r" the feature table: pass the whole panel$"):
        market_features(rows[rows["symbol"] != "VIX"], roles)


def test_an_absent_role_is_zero_with_its_reason(rows, instruments):
    equities = market_roles(instruments, ["SPX", "N225"])
    assert equities.volatility is None and equities.rate is None and equities.credit is None
    assert equities.notes[0] == "vol_level, vol_change: zero (no volatility index (asset_class volatility))"
    figures = market_features(rows[rows["symbol"].isin(["SPX", "N225"])], equities)
    assert (figures[["vol_level", "vol_change", "rate_move", "credit_move"]] == 0).all().all()
    assert figures["stress_share"].max() > 0  # the cross-asset figure needs no role
