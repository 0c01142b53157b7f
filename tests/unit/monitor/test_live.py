"""The live state: re-pricing on a price update, the day's figures (loss so far + remaining horizon), the clock."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from risk_platform.monitor.live import SessionClock, build_live_state, live_config
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.risk.config import RiskConfig

ASOF = pd.Timestamp("2024-12-30")
CONFIG = live_config(RiskConfig(evaluation_date=pd.Timestamp("2024-12-31")), 2_000)


@pytest.fixture(scope="module")
def two_positions(tmp_path_factory, market_inputs):
    path = tmp_path_factory.mktemp("book") / "book.yaml"
    path.write_text("portfolio: {name: two, nav: 10000000}\npositions:\n"
                    "  - {symbol: SPX, notional: 100000000, asset_class: equity, sector: US, region: US,"
                    " avg_daily_volume: 1.0e+11, bid_ask_bps: 1}\n"
                    "  - {symbol: UST10Y, notional: 60000000, dv01: 50000, asset_class: rates, sector: Gov, region: US,"
                    " avg_daily_volume: 1.0e+11, bid_ask_bps: 1}\n")
    book = load_portfolio(path, market_inputs.instruments)
    return build_live_state(book, market_inputs, ASOF, CONFIG)


def test_the_clock_runs_from_one_close_to_the_next():
    clock = SessionClock.after(pd.Timestamp("2024-12-27"), "21:00")  # a Friday: the next close is Monday's
    assert clock.next_close == pd.Timestamp("2024-12-30 21:00", tz="UTC")
    assert clock.remaining_fraction(clock.last_close) == 1.0
    assert clock.remaining_fraction(clock.next_close) == 0.0
    assert clock.remaining_fraction(clock.next_close + pd.Timedelta(hours=1)) == 0.0
    middle = clock.last_close + (clock.next_close - clock.last_close) / 4
    assert clock.remaining_fraction(middle) == pytest.approx(0.75)


def test_no_move_at_the_close_gives_the_daily_report(two_positions):
    state = two_positions
    live = state.revalue({}, state.clock.last_close)
    assert live.loss_so_far == 0.0 and live.remaining_fraction == 1.0
    assert live.day["var_99"] == pytest.approx(state.daily.var_99, rel=1e-9)
    assert live.day["es_99"] == pytest.approx(state.daily.es_99, rel=1e-9)
    assert set(live.methods) >= {"historical", "parametric_ewma", "filtered_historical", "vine_copula"}
    assert live.diversification_ratio >= 1.0


def test_loss_so_far_is_the_full_revaluation_with_losses_positive(two_positions):
    state = two_positions
    close = state.close_prices()
    moved = {"SPX": close["SPX"] * 1.01, "UST10Y": close["UST10Y"] + 0.10}  # +1% equity, +10 bp yield
    live = state.revalue(moved, state.clock.last_close + pd.Timedelta(hours=1))
    assert live.loss_so_far == pytest.approx(-1_000_000 + 500_000, rel=1e-9)  # gain on SPX, loss on the bond


def test_the_day_figures_shrink_to_the_realised_loss_at_the_next_close(two_positions):
    state = two_positions
    moved = {"SPX": state.close_prices()["SPX"] * 0.98}
    live_open = state.revalue(moved, state.clock.last_close)
    live_mid = state.revalue(moved, state.clock.last_close + (state.clock.next_close - state.clock.last_close) / 2)
    live_end = state.revalue(moved, state.clock.next_close)
    assert live_end.loss_so_far == pytest.approx(2_000_000, rel=1e-9)
    for name, figures in live_end.methods.items():
        assert figures["var_99"] == pytest.approx(2_000_000, rel=1e-9), name
    risk_open = live_open.day["var_99"] - live_open.loss_so_far
    risk_mid = live_mid.day["var_99"] - live_mid.loss_so_far
    assert risk_mid == pytest.approx(risk_open * np.sqrt(0.5), rel=1e-9)
    # re-priced on the live book: 2% less SPX exposure, less 1-day risk than at the close
    assert live_open.report.var_99 < state.daily.var_99
