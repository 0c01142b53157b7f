"""The universe roles (60/40 legs, rate and volatility references, plotted series, FX feeds) chosen from the
instruments file: the bundled symbols on the bundled file, the rule's choice or the stated reason on universes
unlike it (the bundled instruments renamed and subset, written to and read back from real files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from risk_platform.data.loading import load_instruments
from risk_platform.data.roles import (
    bond_leg,
    credit_reference,
    equity_leg,
    fx_feeds,
    plotted_series,
    rate_reference,
    sixty_forty,
    tenor_years,
    vol_reference,
)

BUNDLED_FX = {"EUR": ("EURUSD", 1), "JPY": ("USDJPY", -1), "GBP": ("GBPUSD", 1), "CHF": ("USDCHF", -1),
              "AUD": ("AUDUSD", 1), "CNY": ("USDCNY", -1)}


def renamed(instruments: pd.DataFrame, classes: tuple[str, ...], tmp_path, prefix: str = "S",
            extra: dict[str, list[str]] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The bundled instruments of ``classes``, symbols renamed ``<prefix>1, <prefix>2, ...``, written to a CSV
    and loaded back; returns the table and the old -> new names."""
    rows = instruments[instruments["asset_class"].isin(classes)].copy()
    names = {s: f"{prefix}{i + 1}" for i, s in enumerate(rows["symbol"])}
    rows["symbol"] = rows["symbol"].map(names)
    for column, values in (extra or {}).items():
        rows[column] = values
    path = tmp_path / "instruments.csv"
    rows.to_csv(path, index=False)
    return load_instruments(path), names


def test_the_rules_pick_the_bundled_symbols_on_the_bundled_instruments(instruments):
    assert sixty_forty(instruments) == ({"SPX": 0.6, "TLT": 0.4}, "")
    assert rate_reference(instruments).symbol == "UST10Y"
    assert vol_reference(instruments).symbol == "VIX"
    assert credit_reference(instruments).symbol == "HYG"
    assert plotted_series(instruments, instruments["symbol"]) == ("SPX", "UST10Y", "EURUSD", "WTI")
    assert fx_feeds(instruments) == BUNDLED_FX


def test_equities_only_with_renamed_symbols(instruments, tmp_path):
    table, names = renamed(instruments, ("equity",), tmp_path, "STOCK")
    assert equity_leg(table).symbol == names["SPX"]  # the first USD equity index of the file
    assert sixty_forty(table) == ({}, "no equity/rates pair: 60/40 book not evaluated (no price-quoted rates series"
                                      " (bond or bond ETF; yields are not holdings))")
    assert plotted_series(table, table["symbol"]) == (names["SPX"],)
    assert rate_reference(table).reason == "no yield series (quote_type yield_pct)"
    assert vol_reference(table).reason == "no volatility index (asset_class volatility)"
    assert fx_feeds(table) == {}


def test_equities_without_an_index_are_the_equal_weighted_equity_leg(instruments, tmp_path):
    table, names = renamed(instruments[instruments["symbol"].isin(["SPX", "RUT", "EEM", "TLT"])], ("equity", "rates"),
                           tmp_path)
    table["quote_type"] = table["quote_type"].replace("index_level", "price")
    weights, reason = sixty_forty(table)
    assert reason == ""
    assert weights == pytest.approx({names["SPX"]: 0.2, names["RUT"]: 0.2, names["EEM"]: 0.2, names["TLT"]: 0.4})


def test_rates_and_fx_only_with_renamed_symbols(instruments, tmp_path):
    table, names = renamed(instruments, ("rates", "fx"), tmp_path, "X")
    assert rate_reference(table).symbol == names["UST10Y"]  # tenor read from the name: "10-year"
    assert bond_leg(table).symbol == names["TLT"]
    assert sixty_forty(table)[1] == "no equity/rates pair: 60/40 book not evaluated (no equity series (asset_class" \
                                    " equity))"
    assert plotted_series(table, table["symbol"]) == (names["UST10Y"], names["EURUSD"])
    assert fx_feeds(table) == {}  # renamed FX series name no currency: no conversion feed (valuation says so)
    fx = instruments[instruments["asset_class"].isin(("rates", "fx"))]
    base = [s[:3] if q == "fx_rate" else "" for s, q in zip(fx["symbol"], fx["quote_type"], strict=True)]
    table, names = renamed(instruments, ("rates", "fx"), tmp_path, "X", {"base_currency": base})
    assert fx_feeds(table) == {c: (names[s], sign) for c, (s, sign) in BUNDLED_FX.items()}


def test_five_series_universe(instruments):
    table = instruments[instruments["symbol"].isin(["SPX", "TLT", "EURUSD", "WTI", "GOLD"])]
    assert sixty_forty(table) == ({"SPX": 0.6, "TLT": 0.4}, "")
    assert rate_reference(table).symbol is None and vol_reference(table).symbol is None
    assert plotted_series(table, table["symbol"]) == ("SPX", "TLT", "EURUSD", "WTI")
    assert fx_feeds(table) == {"EUR": ("EURUSD", 1)}
    # restricted to the series present, the rule moves to the next candidate of the file
    assert sixty_forty(instruments, ["RUT", "LQD", "SPX"])[0] == {"SPX": 0.6, "LQD": 0.4}


def test_tenors_read_from_symbols_and_names():
    got = [tenor_years(s, n) for s, n in (("UST3M", ""), ("A", "US Treasury 2-year yield"), ("GILT10Y", ""),
                                           ("B", "30 year"), ("C", "no tenor"))]
    assert got[:4] == [0.25, 2.0, 10.0, 30.0] and np.isnan(got[4])


def test_the_credit_reference_is_read_from_the_name_high_yield_before_corporate(instruments, tmp_path):
    table, names = renamed(instruments, ("rates",), tmp_path, "B")  # symbols say nothing: the names decide
    assert credit_reference(table).symbol == names["HYG"]
    assert credit_reference(table, [names["TLT"], names["LQD"]]).symbol == names["LQD"]  # "Corporate" next
    assert credit_reference(table, [names["TLT"], names["UST10Y"]]).reason == (
        "no credit series (a price-quoted rates series whose name says high yield or corporate)")
