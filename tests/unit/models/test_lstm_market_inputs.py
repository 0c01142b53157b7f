"""The LSTM with market-stress inputs (``LSTMConfig.market_inputs``) on the real bundled panel: it trains where
a role is absent and says why in its metadata, the registered (exported) program forecasts through the risk
engine's path from the table it gets, and the crisis validation's variance table reads enough history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose

from risk_platform.errors import InputError
from risk_platform.features.market_stress import MARKET_FEATURES, MarketRoles
from risk_platform.models.inference import lstm_outputs
from risk_platform.models.lstm import (
    STEP_FEATURES,
    LSTMConfig,
    build_sequences,
    fit_lstm_vol,
    forecast_latest,
    train_lstm_vol,
    variance_table,
)
from risk_platform.models.registry import LoadedModel
from risk_platform.models.reports import lstm_registration
from risk_platform.validation.crisis import lstm_variance_table

TINY = LSTMConfig.demo(seq_len=8, hidden=8, epochs=1, sample_every=25, batch_size=256, market_inputs=True)
SLICE = ["SPX", "UST10Y", "HYG", "VIX", "EURUSD", "GOLD"]


@pytest.fixture(scope="module")
def panel(daily_features) -> pd.DataFrame:
    keep = daily_features["symbol"].isin(SLICE) & (daily_features["date"] >= "2012-01-01")
    return daily_features[keep]


@pytest.fixture(scope="module")
def fitted(panel, instruments):
    return fit_lstm_vol(panel[panel["symbol"] != "GOLD"], TINY, instruments=instruments)


def test_an_equity_universe_trains_with_the_absent_roles_in_its_metadata(daily_features, instruments, tmp_path):
    equities = daily_features[daily_features["symbol"].isin(["SPX", "RUT", "SX5E", "DAX", "N225"])
                              & (daily_features["date"] >= "2023-01-01")]
    result = train_lstm_vol(equities, TINY, instruments=instruments)
    registration = lstm_registration(result, equities, instruments, tmp_path)
    market = registration.metadata["market_inputs"]
    assert (market["volatility"], market["rate"], market["credit"]) == (None, None, None)
    assert market["notes"] == [
        "vol_level, vol_change: zero (no volatility index (asset_class volatility))",
        "rate_move: zero (no yield series (quote_type yield_pct))",
        "credit_move: zero (no credit series (a price-quoted rates series whose name says high yield or corporate))"]
    assert registration.metadata["features"] == [*STEP_FEATURES, *MARKET_FEATURES]
    assert registration.input_example.shape[-1] == len(STEP_FEATURES) + len(MARKET_FEATURES)
    latest = forecast_latest(result.forecaster, equities, result.symbols, TINY.seq_len, result.market)
    assert np.isfinite(latest["variance"]).all() and (latest["variance"] > 0).all()


def test_the_flag_needs_the_instruments_table(panel):
    with pytest.raises(InputError, match=r"^LSTMConfig.market_inputs needs the instruments table"):
        fit_lstm_vol(panel, TINY)


def test_the_registered_program_forecasts_from_the_table_it_gets(fitted, panel):
    """Exported as the registry stores it, loaded back with the metadata: the risk engine's path gives the
    in-memory forecaster's figures, a series unseen in training included; a table without the volatility
    reference is a one-line error, not a forecast with a zero VIX."""
    assert fitted.market == MarketRoles("VIX", "UST10Y", "HYG", ())
    example = torch.from_numpy(build_sequences(panel, TINY.seq_len, "latest", pd.Timestamp.max, market=fitted.market).x)
    program = torch.export.export(fitted.forecaster, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    metadata = {"symbols": fitted.forecaster.symbols, "seq_len": TINY.seq_len, "series_identity": False,
                "market_inputs": fitted.market.metadata()}
    loaded = LoadedModel(program.module(), metadata, "risk_platform-lstm_vol", "1", "run", "experimental")
    outputs = lstm_outputs(loaded, panel)
    direct = forecast_latest(fitted.forecaster, panel, fitted.forecaster.symbols, TINY.seq_len, fitted.market)
    assert_allclose(outputs["variance"], direct.set_index("symbol")["variance"], rtol=1e-5)
    assert not outputs.at["GOLD", "seen_in_training"] and np.isfinite(outputs.at["GOLD", "variance"])
    without_market = forecast_latest(fitted.forecaster, panel, fitted.forecaster.symbols,
                                     TINY.seq_len, MarketRoles(None, None, None))
    assert not np.allclose(without_market["variance"], direct["variance"])  # the figures reach the forecast
    with pytest.raises(InputError, match=r"^VIX \(the LSTM's volatility reference"):
        lstm_outputs(loaded, panel[panel["symbol"] != "VIX"])


def test_the_crisis_variance_table_reads_the_volatility_levels_year(fitted, panel):
    since = pd.Timestamp("2020-02-20")
    cut = lstm_variance_table(fitted.forecaster, panel, ["SPX", "GOLD"], TINY.seq_len, since, fitted.market)
    whole = variance_table(fitted.forecaster, panel, TINY.seq_len, fitted.market, ["SPX", "GOLD"])
    assert cut.index[0] >= since and len(cut) > 1000
    assert_allclose(cut.to_numpy(), whole.loc[cut.index].to_numpy(), rtol=1e-5)


def test_the_explanation_attributes_the_market_figures_too(fitted, panel):
    from risk_platform.models.explain import ExplainConfig, explain_lstm

    config = ExplainConfig(background=16, nsamples=50, train_end="2019-12-31")
    explanation = explain_lstm(fitted.forecaster, panel, ["2020-03-16"], config, seq_len=TINY.seq_len,
                               series=["SPX"], market=fitted.market)
    assert set(explanation.by_lag["feature"]) == {*STEP_FEATURES, *MARKET_FEATURES}
    row = explanation.forecasts.iloc[0]
    direct = forecast_latest(fitted.forecaster, panel[panel["date"] <= "2020-03-16"], [], TINY.seq_len, fitted.market)
    assert row["variance"] == pytest.approx(direct.set_index("symbol").at["SPX", "variance"], rel=1e-4)
