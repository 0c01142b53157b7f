"""Book backtests (``risk-platform backtest --portfolio``): the validation book's exposures by hand, hs and ewma
VaR/ES against numpy on the book's P&L, no forecast using its own day or later, the methods table, the CLI's
fields, exclusions and one-line errors (the CLI called in-process, on a short real price file)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from risk_platform.cli import main
from risk_platform.errors import InputError
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.validation.book_backtest import LstmModel, book_forecast, validation_book
from risk_platform.validation.crisis import BASELINES
from risk_platform.validation.methods import BACKTEST_METHODS, LSTM_METHODS, METHODS
from tests.conftest import inject_gaps

ROW = "asset_class: {ac}, sector: s, region: r, avg_daily_volume: 1000000000, bid_ask_bps: 1"
TINY_BOOK = f"""portfolio:
  name: tiny book
  base_currency: USD
  nav: 10000000
positions:
  - {{symbol: SPX, notional: 1000000, {ROW.format(ac="equity")}}}
  - {{symbol: SX5E, notional: 2000000, {ROW.format(ac="equity")}}}
  - {{symbol: EURUSD, notional: -500000, {ROW.format(ac="fx")}}}
  - {{symbol: UST10Y, notional: 5000000, dv01: 4000, {ROW.format(ac="rates")}}}
"""
# USD per unit log return (per bp for the yield): SX5E is in EUR, so its 2m also move with EURUSD
EXPECTED_EXPOSURE = {"EURUSD": -500_000 + 2_000_000, "SPX": 1_000_000, "SX5E": 2_000_000, "UST10Y": -4_000}
SYMBOLS = sorted(EXPECTED_EXPOSURE)
ALPHA, WINDOW = 0.99, 250


@pytest.fixture
def tiny_book(tmp_path, instruments):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_BOOK)
    return path


@pytest.fixture
def short_prices(bundled_prices_text, write_prices):
    """The tiny book's four feeds from 2021 on (real bundled rows): a fast gate, enough days for a 250-day window."""
    def _write(prices: pd.DataFrame = bundled_prices_text) -> str:
        rows = prices[prices["symbol"].isin(SYMBOLS) & (prices["date"] >= "2021-01-01")]
        return str(write_prices(rows))
    return _write


def _book(market_inputs, path):
    portfolio = load_portfolio(path, market_inputs.instruments)
    return validation_book(portfolio, market_inputs.panel, market_inputs.instruments, market_inputs.unavailable)


def _hand_pnl(returns: pd.DataFrame) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """x . r_t on the union calendar with numpy (a closed venue did not move)."""
    wide = returns.pivot(index="date", columns="symbol", values="ret").sort_index()
    x = np.array([EXPECTED_EXPOSURE[s] for s in SYMBOLS], dtype=float)
    return wide.index, np.nan_to_num(wide.reindex(columns=SYMBOLS).to_numpy()) @ x


def test_the_validation_book_holds_the_first_order_exposures(market_inputs, tiny_book):
    book = _book(market_inputs, tiny_book)
    assert book.exposure.to_dict() == pytest.approx(EXPECTED_EXPOSURE)
    assert book.excluded == [] and book.asof == market_inputs.panel["date"].max()


def test_hs_and_ewma_book_var_equal_a_numpy_hand_computation(market_inputs, tiny_book):
    returns = market_inputs.returns[market_inputs.returns["date"] >= "2022-01-01"]
    exposure = _book(market_inputs, tiny_book).exposure
    dates, pnl = _hand_pnl(returns)
    losses = -pnl
    k = math.ceil(WINDOW * ALPHA)  # inverted-CDF quantile of the previous WINDOW losses
    hs = book_forecast(returns, exposure, "hs", ALPHA, WINDOW)
    hand_hs = np.array([np.sort(losses[t - WINDOW:t])[k - 1] for t in range(WINDOW, len(losses))])
    assert hs.dates.equals(dates[WINDOW:])
    np.testing.assert_allclose(hs.var, hand_hs, rtol=1e-10)
    np.testing.assert_allclose(hs.losses, losses[WINDOW:], rtol=1e-12)

    s2 = np.full(len(losses), np.nan)  # RiskMetrics, seeded on the mean of the first 20 squared P&Ls
    s2[19] = np.mean(losses[:20] ** 2)
    for t in range(20, len(losses)):
        s2[t] = 0.94 * s2[t - 1] + 0.06 * losses[t] ** 2
    sigma = np.sqrt(s2[WINDOW - 1:-1])  # the forecast for day t is made at t - 1
    ewma = book_forecast(returns, exposure, "ewma", ALPHA, WINDOW)
    on = ewma.dates >= dates[WINDOW]
    np.testing.assert_allclose(ewma.var[on], norm.ppf(ALPHA) * sigma, rtol=1e-9)
    np.testing.assert_allclose(ewma.es[on], sigma * norm.pdf(norm.ppf(ALPHA)) / (1 - ALPHA), rtol=1e-9)


@pytest.mark.parametrize("method", [m for m in METHODS if m not in LSTM_METHODS])
def test_a_forecast_uses_no_data_of_its_own_day_or_later(market_inputs, tiny_book, method):
    returns = market_inputs.returns[market_inputs.returns["date"] >= "2019-01-01"].reset_index(drop=True)
    exposure = _book(market_inputs, tiny_book).exposure
    cut = pd.Timestamp("2023-06-01")
    changed = returns.assign(ret=np.where(returns["date"] >= cut, returns["ret"] * 3.0 + 0.01, returns["ret"]))
    before, after = (book_forecast(r, exposure, method, ALPHA, 500) for r in (returns, changed))  # GARCH: 500
    assert before.dates.equals(after.dates)
    upto = before.dates <= cut
    np.testing.assert_array_equal(before.var[upto], after.var[upto])
    np.testing.assert_array_equal(before.es[upto], after.es[upto])
    assert not np.allclose(before.var[~upto], after.var[~upto])  # the change reached the later forecasts


def test_list_methods_json_is_the_one_methods_table(capsys):
    assert main(["backtest", "--list-methods", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["methods"]
    assert [(r["method"], r["family"], r["learned"]) for r in rows] == [(m.name, m.family, m.learned)
                                                                          for m in BACKTEST_METHODS]
    assert {r["family"] for r in rows} == {"baseline", "model"} and all(r["description"] for r in rows)
    assert [r["method"] for r in rows if r["family"] == "baseline"] == list(BASELINES) == ["hs", "ewma", "garch", "fhs"]
    assert [r["method"] for r in rows if r["learned"]] == ["lstm", "evt_lstm"]
    assert {"evt_ewma", "evt_garch"} <= {r["method"] for r in rows if r["family"] == "model" and not r["learned"]}


def test_book_backtest_json_fields(capsys, tiny_book, short_prices):
    code = main(["backtest", "--portfolio", str(tiny_book), "--prices", short_prices(), "--method", "ewma",
                 "--confidence", "0.99", "--start", "2023-01-01", "--end", "2023-12-31", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("n", "exceptions", "expected_exceptions", "kupiec_p", "christoffersen_p", "zone", "tick_loss",
                "es_z2", "es_zone"):
        assert key in out
    assert out["portfolio"] == "tiny book" and out["method"] == "ewma"
    assert "2023-01-01" <= out["start"] < "2023-01-10" and "2023-12-20" < out["end"] <= "2023-12-31"
    assert out["n"] > 250 and out["expected_exceptions"] == pytest.approx(out["n"] * 0.01)
    assert out["exposure_usd"] == pytest.approx(EXPECTED_EXPOSURE) and out["excluded_positions"] == []


def test_a_position_on_a_rejected_feed_is_excluded_and_named(capsys, tiny_book, short_prices,
                                                            bundled_prices_text, instruments):
    prices, _ = inject_gaps(bundled_prices_text[bundled_prices_text["date"] >= "2021-01-01"], instruments,
                            "SX5E", 0.06)
    code = main(["backtest", "--portfolio", str(tiny_book), "--prices", short_prices(prices), "--method", "hs",
                 "--start", "2023-01-01", "--json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert code == 3
    assert captured.err == "risk-platform: gate failed: 1 position(s) excluded because their feed was rejected: SX5E\n"
    (excluded,) = out["excluded_positions"]
    assert excluded["symbol"] == "SX5E" and excluded["reason"].startswith("depends on SX5E: feed rejected")
    assert out["rejected_feeds"] == ["SX5E"]
    assert out["exposure_usd"] == pytest.approx({"EURUSD": -500_000, "SPX": 1_000_000, "UST10Y": -4_000})


def test_a_position_on_a_feed_not_delivered_is_excluded_and_named(capsys, tiny_book, short_prices,
                                                                   bundled_prices_text):
    prices = bundled_prices_text[bundled_prices_text["symbol"] != "UST10Y"]
    code = main(["backtest", "--portfolio", str(tiny_book), "--prices", short_prices(prices), "--method", "hs",
                 "--start", "2023-01-01", "--json"])
    captured = capsys.readouterr()
    (excluded,) = json.loads(captured.out)["excluded_positions"]
    assert code == 3 and captured.err.endswith("excluded because their feed was rejected: UST10Y\n")
    assert excluded["reason"] == "depends on UST10Y: no prices up to 2024-12-31"


@pytest.mark.parametrize(("args", "line"), [
    (["--list-methods", "--symbol", "SPX"], "argument --symbol: not allowed with argument --list-methods"),
    (["--symbol", "SPX", "--portfolio", "book.yaml", "--method", "hs"],
     "argument --portfolio: not allowed with argument --symbol"),
    (["--method", "hs"], "one of the arguments --symbol --portfolio --list-methods is required"),
    (["--portfolio", "book.yaml"], "--method is required with --symbol or --portfolio (see --list-methods)"),
    (["--portfolio", "book.yaml", "--method", "var"], "argument --method: invalid choice: 'var'"),
])
def test_backtest_argument_errors_exit_2_with_one_line(capsys, args, line):
    try:
        code = main(["backtest", *args])
    except SystemExit as exc:  # argparse's errors exit; an InputError is returned as 2
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert line in err and err.count("\n") == 1 and err.startswith("risk-platform: error: ")


@pytest.mark.parametrize("method", LSTM_METHODS)
def test_the_lstm_book_forecast_uses_no_data_of_its_own_day_or_later(daily_features, market_inputs, tiny_book,
                                                                     method):
    """A real (one-batch) LSTM: its book forecast (normal, or EVT over its sigma) for day t reads the features up
    to t - 1 only, and scores only the days after its training end."""
    from risk_platform.models.lstm import LSTMConfig, fit_lstm_vol

    daily = daily_features[daily_features["symbol"].isin(SYMBOLS) & (daily_features["date"] >= "2016-01-01")
                           & (daily_features["date"] <= "2021-06-30")].reset_index(drop=True)
    config = LSTMConfig.demo(train_end="2019-12-31")
    fitted = fit_lstm_vol(daily, config, fast_dev_run=True)
    model = LstmModel(fitted.forecaster, list(fitted.forecaster.symbols), config.seq_len, pd.Timestamp("2019-12-31"))
    exposure = _book(market_inputs, tiny_book).exposure
    cut = pd.Timestamp("2020-09-01")
    later = daily["date"] >= cut
    columns = ["ret", "ewma_vol", "rv_21", "rv_63"]
    changed = daily.copy()
    changed.loc[later, columns] = daily.loc[later, columns] * 3.0
    before, after = (book_forecast(d, exposure, method, ALPHA, WINDOW, model) for d in (daily, changed))
    assert before.method == method and before.dates[0] > pd.Timestamp("2019-12-31")
    assert before.dates.equals(after.dates)
    upto = before.dates <= cut
    assert upto.sum() > 100
    np.testing.assert_array_equal(before.var[upto], after.var[upto])
    assert not np.allclose(before.var[~upto], after.var[~upto])


@pytest.mark.parametrize("method", LSTM_METHODS)
def test_the_lstm_book_forecast_needs_a_registered_model(market_inputs, tiny_book, method):
    exposure = _book(market_inputs, tiny_book).exposure
    with pytest.raises(InputError, match=f"the {method} method needs a registered LSTM"):
        book_forecast(market_inputs.returns, exposure, method, ALPHA, WINDOW)
