"""The scale benchmark's universes: identity at 28, deterministic, the parent's calendar and rows, quote types,
volatility matched to the parent, and files the loaders and the gate accept (bar the series made to fail)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.universe import GATE_FAILURE_DROP, build_universe
from risk_platform import paths
from risk_platform.data.loading import load_instruments, load_prices
from risk_platform.data.quality import default_suite_path, gate_delivery, load_suite
from risk_platform.features.returns import compute_returns


@pytest.fixture(scope="module")
def universe_60():
    return build_universe(60, seed=7)


def _parent(symbol: str) -> str:
    return symbol.rsplit("_S", 1)[0]


def test_n28_is_the_bundled_panel():
    universe = build_universe(28)
    instruments = load_instruments(paths.BUNDLED_INSTRUMENTS)
    raw = load_prices(paths.BUNDLED_PRICES, instruments).frame
    pd.testing.assert_frame_equal(universe.instruments, instruments)
    expected = raw[["date", "symbol", "value"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(universe.prices.reset_index(drop=True), expected, check_dtype=False)


def test_small_universe_is_a_multi_asset_subset():
    universe = build_universe(5)
    assert len(universe.instruments) == 5
    assert universe.instruments["asset_class"].nunique() == 5
    assert set(universe.prices["symbol"]) == set(universe.instruments["symbol"])


def test_deterministic_per_seed(universe_60):
    again = build_universe(60, seed=7)
    pd.testing.assert_frame_equal(again.prices, universe_60.prices)
    pd.testing.assert_frame_equal(again.instruments, universe_60.instruments)
    other = build_universe(60, seed=8)
    assert not other.prices["value"].equals(universe_60.prices["value"])


def test_synthetic_series_inherit_parent_calendar_and_rows(universe_60):
    table = universe_60.instruments.set_index("symbol")
    assert table.index.is_unique and len(table) == 60
    prices = universe_60.prices
    synthetic = [s for s in table.index if "_S" in s]
    assert len(synthetic) == 32
    late, thinned = 0, 0
    for symbol in synthetic:
        parent = _parent(symbol)
        for column in ("asset_class", "quote_type", "currency", "region", "venue", "calendar"):
            assert table.at[symbol, column] == table.at[parent, column], (symbol, column)
        assert "synthetic" in table.at[symbol, "name"].lower()
        own = pd.DatetimeIndex(prices.loc[prices["symbol"] == symbol, "date"])
        parents = pd.DatetimeIndex(prices.loc[prices["symbol"] == parent, "date"])
        window = parents[parents >= own[0]]
        assert own.isin(parents).all()
        late += own[0] > parents[0]
        if len(own) < len(window):
            thinned += 1
            assert len(window) - len(own) == int(GATE_FAILURE_DROP * len(window))
        assert own[0].year <= 2015
    assert thinned == 1  # round(2% of 32)
    assert 3 <= late <= 20  # about 30% of 32 start later


def test_levels_by_quote_type_and_parent_volatility(universe_60):
    returns = compute_returns(universe_60.prices, universe_60.instruments).frame
    quote = universe_60.instruments.set_index("symbol")["quote_type"]
    for symbol in [s for s in quote.index if "_S" in s]:
        values = universe_60.prices.loc[universe_60.prices["symbol"] == symbol, "value"]
        if quote[symbol] != "yield_pct":
            assert (values > 0).all(), symbol
        own = returns.loc[returns["symbol"] == symbol, "ret"].to_numpy()
        parent_rows = returns[returns["symbol"] == _parent(symbol)]
        parent = parent_rows["ret"].where(parent_rows["method"].isin(["log", "bp"]), 0.0).to_numpy()  # WTI < 0: 0
        first = universe_60.prices.loc[universe_60.prices["symbol"] == symbol, "date"].min()
        if (parent_rows["date"] > first).sum() == own.size:  # not thinned: rescaled exactly to the parent's vol
            assert np.std(own) == pytest.approx(np.std(parent), rel=1e-6), symbol
    assert set(quote[[s for s in quote.index if "_S" in s]]) <= {"price", "index_level", "fx_rate", "yield_pct"}


def test_files_load_and_most_feeds_pass_the_gate(universe_60, tmp_path):
    prices_path, instruments_path = universe_60.write(tmp_path)
    instruments = load_instruments(instruments_path)
    raw = load_prices(prices_path, instruments).frame
    assert len(raw) == len(universe_60.prices)
    outcome = gate_delivery(raw, instruments, load_suite(default_suite_path()), evaluation_date=raw["date"].max())
    rejected = set(outcome.decision.rejected)
    assert len(rejected) == 1 and all("_S" in s for s in rejected)
    implausible = set(outcome.plausibility.rejected) if outcome.plausibility is not None else set()
    assert not implausible
