"""Positions files and the portfolio risk engine: validation, revaluation by hand, flags."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from risk_platform import paths
from risk_platform.errors import InputError
from risk_platform.portfolio.positions import Portfolio, load_portfolio
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.engine import compute_portfolio_risk
from risk_platform.risk.market import prepare_market
from risk_platform.risk.revaluation import BookArrays
from risk_platform.risk.valuation import value_positions

FAST = RiskConfig(fit_copula=False, mc_scenarios=2000)  # the copula and stress suite are tested in test_risk_engine

HEADER = "symbol,notional,quantity,dv01,asset_class,sector,region,avg_daily_volume,bid_ask_bps\n"
ROW = "SPX,1000000,,,equity,US,US,1e9,1\n"


@pytest.fixture(scope="module")
def market(market_inputs):
    return market_inputs.panel, market_inputs.returns


def csv(tmp_path, body):
    path = tmp_path / "book.csv"
    path.write_text(HEADER + body)
    return path


def test_sample_book_is_a_realistic_multi_asset_book(instruments):
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)
    assert 20 <= len(book.positions) <= 30
    option = book.positions[book.is_option]
    assert list(option["symbol"]) == ["SPX"] and (option["delta"] < 0).all() and (option["gamma"] > 0).all()
    classes = instruments.set_index("symbol").loc[book.symbols, "asset_class"]
    assert {"equity", "rates", "fx", "commodity"} <= set(classes)
    assert book.positions.loc[book.positions["symbol"].str.startswith("UST"), "dv01"].gt(0).all()
    assert book.nav == 500_000_000
    assert Portfolio.from_dict(book.to_dict()).positions.shape == book.positions.shape


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("NOPE,1,,,equity,US,US,1e9,1\n", "line 2: unknown symbol 'NOPE'"),
        (ROW + "RUT,1,,,equity,US,US,-5,1\n", "line 3: RUT avg_daily_volume must be positive"),
        (ROW + ROW, "line 3: duplicated position for SPX"),
        ("SPX,1,5,,equity,US,US,1e9,1\n", "exactly one of quantity or notional"),
        ("SPX,1,,,equity,,US,1e9,1\n", "line 2: SPX has an empty sector"),
        (ROW + "RUT,1,,,equity,US,US,1e9,-2\n", "line 3: RUT bid_ask_bps must be zero or positive"),
        ("UST10Y,1e6,,,rates,Gov,US,1e9,1\n", "dv01 (USD per bp) is required"),
        ("SPX,abc,,,equity,US,US,1e9,1\n", "line 2: SPX notional 'abc' is not a number"),
        ("SPX,0,,,equity,US,US,1e9,1\n", "zero size"),
    ],
)
def test_bad_positions_name_the_row(tmp_path, instruments, body, expected):
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_portfolio(csv(tmp_path, body), instruments)


YAML_ROW = "symbol: SPX, asset_class: equity, sector: x, region: US, avg_daily_volume: 1e9, bid_ask_bps: 1"


@pytest.mark.parametrize(
    ("header", "position", "expected"),
    [
        ("nav: true", "notional: 1000", "portfolio nav is a boolean (True), not a number"),
        ("nav: 1.0e+300", "notional: 1000", "portfolio nav 1e+300 is beyond the bound nav <= 1e+13 USD"),
        ("nav: .inf", "notional: 1000", "portfolio nav must be a finite positive number, got inf"),
        ("nav: 1000000", "quantity: true", "position 2: SPX quantity is a boolean (True), not a number"),
        ("nav: 1000000", "quantity: 1e300", "position 2: SPX quantity 1e+300 is beyond the bound |quantity| <= 1e+12"),
        ("nav: 1000000", "notional: .nan", "position 2: SPX notional 'nan' is not a number"),
        ("nav: 1000000", "notional: -.inf", "position 2: SPX notional must be finite, got -inf"),
        ("nav: 1000000", "notional: 1000, region: NO",
         "position 2: SPX region is a YAML boolean (False), not text: quote it"),
    ],
)
def test_yaml_values_are_never_coerced(tmp_path, instruments, header, position, expected):
    path = tmp_path / "book.yaml"
    path.write_text(f"portfolio: {{{header}}}\npositions:\n - {{symbol: RUT, notional: 5, asset_class: equity,"
                    f" sector: x, region: US, avg_daily_volume: 1e9, bid_ask_bps: 1}}\n - {{{YAML_ROW}, {position}}}\n")
    with pytest.raises(InputError) as err:
        load_portfolio(path, instruments)
    separator = " " if expected.startswith("position") else ": "
    assert str(err.value) == f"{path}{separator}{expected}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("SPX,inf,,,equity,US,US,1e9,1\n", "line 2: SPX notional must be finite, got inf"),
        ("SPX,NaN,,,equity,US,US,1e9,1\n", "line 2: SPX notional 'NaN' is not a number"),
        ("SPX,true,,,equity,US,US,1e9,1\n", "line 2: SPX notional 'true' is not a number"),
        (ROW + "RUT,,2e12,,equity,US,US,1e9,1\n", "line 3: RUT quantity 2e+12 is beyond the bound |quantity| <= 1e+12"),
        ("SPX,1e6,,,equity,US,US,1e9,2e4\n", "line 2: SPX bid_ask_bps 20000 is beyond the bound"),
        ('SPX,"1e6,,,equity,US,US,1e9,1\n', "not a readable CSV file"),
        ("SPX,1e6,,,equity,US,US,1e9,1,extra\n", "not a readable CSV file (Expected 9 fields in line 2, saw 10)"),
    ],
)
def test_csv_numbers_are_finite_and_bounded_and_the_csv_well_formed(tmp_path, instruments, body, expected):
    with pytest.raises(InputError) as err:
        load_portfolio(csv(tmp_path, body), instruments)
    assert expected in str(err.value) and str(tmp_path / "book.csv") in str(err.value)
    assert "\n" not in str(err.value)


def test_the_first_bad_row_is_reported_whatever_the_check(tmp_path, instruments):
    """Validation runs on whole columns, yet names the first bad position with the first check it fails."""
    body = ROW.replace("SPX", "RUT") + "SPX,1,,,equity,,US,1e9,-1\n" + "NOPE,1,,,equity,US,US,1e9,1\n"
    with pytest.raises(InputError, match="line 3: SPX has an empty sector"):
        load_portfolio(csv(tmp_path, body), instruments)


def test_yaml_anchors_and_aliases_are_refused(tmp_path, instruments):
    path = tmp_path / "book.yaml"
    path.write_text("x: &a [1, 1, 1]\ny: [*a, *a, *a]\npositions:\n - {" + YAML_ROW + ", notional: 1}\n")
    with pytest.raises(InputError, match=f"^{path} line 1: YAML anchors and aliases are not accepted"):
        load_portfolio(path, instruments)


def test_missing_column_and_zero_nav(tmp_path, instruments):
    path = tmp_path / "b.csv"
    path.write_text("symbol,notional\nSPX,1\n")
    with pytest.raises(InputError, match="missing column.*asset_class"):
        load_portfolio(path, instruments)
    path = tmp_path / "b.yaml"
    path.write_text("portfolio: {nav: 0}\npositions:\n - {symbol: SPX, notional: 1, asset_class: equity,"
                    " sector: x, region: US, avg_daily_volume: 1, bid_ask_bps: 1}\n")
    with pytest.raises(InputError, match="nav must be a finite positive number, got 0"):
        load_portfolio(path, instruments)


def test_revaluation_formulas_by_hand(tmp_path, instruments, market):
    panel, _ = market
    body = ("DAX,1000000,,,equity,DE,DE,1e9,1\n" "USDJPY,2000000,,,fx,FX,JP,1e9,1\n"
            "EURUSD,3000000,,,fx,FX,EU,1e9,1\n" "UST10Y,1e7,,5000,rates,Gov,US,1e9,1\n"
            "N225,1000000,,,equity,JP,JP,1e9,1\n" "EEM,,1000,,equity,EM,EM,1e9,1\n")
    book, notes = value_positions(load_portfolio(csv(tmp_path, body), instruments), panel, instruments,
                                  pd.Timestamp("2024-12-31"))
    assert not notes
    eem_price = panel[(panel["symbol"] == "EEM") & (panel["date"] == "2024-12-31")]["value"].item()
    assert_allclose(book.set_index("symbol").at["EEM", "value_usd"], 1000 * eem_price)
    factors = ["DAX", "EEM", "EURUSD", "N225", "UST10Y", "USDJPY"]
    r = np.array([[0.01, 0.0, 0.02, -0.01, 3.0, 0.05]])  # log returns; bp for UST10Y
    g = np.exp(r)
    arrays = BookArrays.from_book(book, factors)
    pnl = arrays.position_pnl(r, g)[0]
    expected = [
        1e6 * (np.exp(0.01 + 0.02) - 1),  # DAX in EUR, EUR up 2%
        2e6 * (1 - np.exp(-0.05)),  # long USD vs JPY, USDJPY up 5%
        3e6 * (np.exp(0.02) - 1),  # long EUR
        -5000 * 3.0,  # yields +3 bp
        1e6 * (np.exp(-0.01 - 0.05) - 1),  # Nikkei down 1%, JPY down 5% against USD
        0.0,
    ]
    assert_allclose(pnl, expected)
    linear = arrays.exposures() @ r[0]
    assert_allclose(linear, expected, rtol=0.05)  # first order


def test_sample_book_risk_is_consistent(instruments, market):
    panel, returns = market
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)
    risk = compute_portfolio_risk(book, panel, returns, instruments, config=FAST, stress=False)
    assert risk.asof == "2024-12-31"
    assert 0 < risk.var_95 < risk.var_99 < risk.es_99
    assert risk.var_95 < risk.cvar_95
    assert 0.002 < risk.var_99 / risk.nav < 0.05  # a diversified macro book: 0.2% to 5% of NAV
    hs = risk.methods["historical"]
    assert_allclose(sum(p["hs_es_99_contribution"] for p in risk.positions), hs["es_99"])
    assert_allclose(sum(risk.vol_contribution.values()), risk.portfolio_volatility)
    assert hs["n_scenarios"] == 500
    # the headline is the most conservative complete method, and says which
    for key, figure in (("var_95", "var_95"), ("var_99", "var_99"), ("cvar_95", "es_95"), ("es_99", "es_99")):
        assert_allclose(getattr(risk, key), max(m[figure] for m in risk.methods.values() if m["complete"]))
        assert risk.bound_by[key].split(":")[0] in risk.methods
    assert any("HSI" in n for n in risk.notes)  # HKD has no feed: said, not hidden
    assert_allclose(risk.largest_position_pct, 24.0)
    assert "SPX option" in risk.vol_contribution


def test_positions_on_rejected_feeds_are_flagged_and_excluded(instruments, market):
    panel, returns = market
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)
    panel_wo = panel[panel["symbol"] != "EURUSD"]
    risk = compute_portfolio_risk(book, panel_wo, returns[returns["symbol"] != "EURUSD"], instruments,
                                  unavailable={"EURUSD": "feed rejected by the missing-data gate"}, config=FAST,
                                  stress=False)
    flagged = {f["symbol"]: f for f in risk.flagged_positions}
    assert set(flagged) == {"EURUSD", "SX5E", "DAX"}  # the FX pair and the EUR assets that need it
    assert all(f["excluded"] and "rejected" in f["reason"] for f in flagged.values())
    assert risk.coverage_pct_gross < 100


def test_as_of_in_the_past_uses_only_data_up_to_it(instruments, market):
    panel, returns = market
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)
    risk = compute_portfolio_risk(book, panel, returns, instruments, asof=pd.Timestamp("2020-03-20"), config=FAST,
                                  stress=False)
    assert risk.methods["historical"]["window_end"] == "2020-03-20"
    assert risk.current_regime == "high"
    calm = compute_portfolio_risk(book, panel, returns, instruments, asof=pd.Timestamp("2019-12-31"), config=FAST,
                                  stress=False)
    assert risk.portfolio_volatility > 3 * calm.portfolio_volatility  # EWMA reacts to the COVID crash


def test_as_of_before_a_series_starts_excludes_that_position_and_flags_short_histories(instruments, market):
    panel, returns = market
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)
    risk = compute_portfolio_risk(book, panel, returns, instruments, asof=pd.Timestamp("2006-06-30"), config=FAST,
                                  stress=False)
    flagged = {f["symbol"]: f for f in risk.flagged_positions}
    assert flagged["SX5E"]["excluded"] and "no value on or before 2006-06-30" in flagged["SX5E"]["reason"]
    assert flagged["HYG"]["excluded"]
    assert np.isfinite(risk.var_99) and risk.coverage_pct_gross < 100
    late = compute_portfolio_risk(book, panel, returns, instruments, asof=pd.Timestamp("2007-06-29"), config=FAST,
                                  stress=False)
    short = {f["symbol"]: f for f in late.flagged_positions}
    assert not short["SX5E"]["excluded"] and "short history" in short["SX5E"]["reason"]


def test_a_stale_feed_is_flagged_by_venue_sessions(instruments, market):
    panel, returns = market
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)
    cut = (panel["symbol"] == "COPPER") & (panel["date"] > "2024-12-20")
    risk = compute_portfolio_risk(book, panel[~cut], returns, instruments, config=FAST, stress=False)
    (flag,) = risk.flagged_positions
    assert flag["symbol"] == "COPPER" and "stale price" in flag["reason"] and not flag["excluded"]
    assert risk.stale and risk.stale_symbols == ["COPPER"] and "STALE: COPPER" in risk.bound_by["var_99"]
    assert next(p for p in risk.positions if p["symbol"] == "COPPER")["stale"]
    # Tokyo closed 2024-12-31: N225 last valued 2024-12-30 is not stale
    assert "N225" not in {f["symbol"] for f in risk.flagged_positions}


def test_negative_price_day_is_revalued_by_its_price_change(tmp_path, instruments, market):
    panel, returns = market
    body = "WTI,1000000,,,commodity,Energy,US,1e9,1\n"
    book = load_portfolio(csv(tmp_path, body), instruments)
    asof = pd.Timestamp("2020-06-30")
    prepared = prepare_market(panel, returns, instruments, asof)
    level = prepared.last_value
    wti = prepared.columns(["WTI"])
    day = list(prepared.dates).index(pd.Timestamp("2020-04-20"))
    assert_allclose(prepared.growth[day, wti[0]], 1 + (-36.98 - 18.31) / level["WTI"])
    valued, _ = value_positions(book, panel, instruments, asof)
    pnl = BookArrays.from_book(valued, ["WTI"]).position_pnl(prepared.returns[:, wti], prepared.growth[:, wti])
    assert_allclose(pnl[day, 0], 1e6 * (-36.98 - 18.31) / level["WTI"])


OPTION_HEADER = ("symbol,notional,quantity,dv01,delta,gamma,vega,theta,asset_class,sector,region,avg_daily_volume,"
                 "bid_ask_bps\n")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("UST10Y,1e6,,5000,1,1,1,,rates,Gov,US,1e9,1\n", "line 2: UST10Y option greeks are only accepted on a price"),
        ("SPX,1e5,,,-1e6,,5e4,,equity,US,US,1e9,1\n", "line 2: SPX option needs delta, gamma, vega (missing gamma)"),
        ("SPX,,10,,-1e6,1e7,5e4,,equity,US,US,1e9,1\n", "give notional (the option's USD market value)"),
        ("SPX,1e5,,,-1e6,1e7,5e4,,equity,US,US,1e9,1\nSPX,1e5,,,-1e6,1e7,5e4,,equity,US,US,1e9,1\n",
         "line 3: duplicated option position for SPX (same as line 2"),
        ("VIX,1e5,,,-1e6,1e7,5e4,,volatility,US,US,1e9,1\n", "only accepted on a price or index-level underlying"),
    ],
)
def test_bad_option_rows_name_the_row(tmp_path, instruments, body, expected):
    path = tmp_path / "book.csv"
    path.write_text(OPTION_HEADER + body)
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_portfolio(path, instruments)


def test_an_option_and_a_future_on_the_same_symbol_are_two_positions(tmp_path, instruments, market):
    panel, _ = market
    path = tmp_path / "book.csv"
    path.write_text(OPTION_HEADER + "SPX,1e6,,,,,,,equity,US,US,1e9,1\n"
                    "SPX,2e4,,,-5e5,1e7,3e4,-200,equity,US,US,1e9,1\n")
    book = load_portfolio(path, instruments)
    valued, _ = value_positions(book, panel, instruments, pd.Timestamp("2024-12-31"))
    assert list(valued["position"]) == ["SPX", "SPX option"]
    assert list(valued["kind"]) == ["linear", "option"]
    assert list(valued["exposure_usd"]) == [1e6, -5e5]
    g = np.array([[0.9, 1.2]])  # SPX -10%, VIX +20%
    vix = panel[(panel["symbol"] == "VIX") & (panel["date"] == "2024-12-31")]["value"].item()
    pnl = BookArrays.from_book(valued, ["SPX", "VIX"], vix_level=vix, vol_symbol="VIX").position_pnl(np.log(g), g)[0]
    assert_allclose(pnl, [-1e5, 5e4 + 0.5 * 1e7 * 0.01 + 3e4 * vix * 0.2 - 200])
