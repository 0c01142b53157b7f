"""The command line: exit codes 0 / 2 / 3, one-line errors, JSON output (run as a real subprocess)."""

import json
import subprocess
import sys

import pytest

from risk_platform import paths
from tests.conftest import inject_gaps

PRICES, INSTRUMENTS = str(paths.BUNDLED_PRICES), str(paths.BUNDLED_INSTRUMENTS)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "risk_platform.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_check_data_on_the_bundled_panel_passes():
    done = cli("check-data", "--prices", PRICES, "--instruments", INSTRUMENTS, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["passed"] and len(out["accepted"]) == 28 and out["threshold"] == 0.05


def test_check_data_rejects_an_incomplete_feed_with_exit_3(bundled_prices_text, instruments, write_prices):
    prices, _ = inject_gaps(bundled_prices_text, instruments, "HYG", 0.06)
    done = cli("check-data", "--prices", str(write_prices(prices)), "--instruments", INSTRUMENTS, "--json")
    assert done.returncode == 3
    out = json.loads(done.stdout)
    assert [r["symbol"] for r in out["rejected"]] == ["HYG"]
    assert out["rejected"][0]["missing_share"] > 0.05 and out["rejected"][0]["first_missing_dates"]
    text = cli("check-data", "--prices", str(write_prices(prices)), "--instruments", INSTRUMENTS)
    assert "REJECTED HYG: 6.0" in text.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("date,symbol\n2024-01-02,SPX\n", "missing column(s) value"),
        ("date,symbol,value\n2024-01-02,SPX,x\n", "value 'x' for SPX on 2024-01-02 is not a number"),
        ("date,symbol,value\n2024-01-02,SPX,1\n2024-01-02,SPX,2\n", "conflicting values"),
        ("date,symbol,value\n2024-01-02,FOO,1\n", "unknown symbol 'FOO'"),
        ("", "empty file"),
        ("date,symbol,value\n2024-01-03,SPX,1\n2024-01-02,SPX,1\n", "not in ascending order"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, content, expected):
    path = tmp_path / "prices.csv"
    path.write_text(content)
    done = cli("check-data", "--prices", str(path), "--instruments", INSTRUMENTS)
    assert done.returncode == 2
    assert expected in done.stderr and str(path) in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_usage_errors_exit_2():
    done = cli("check-data", "--prices", PRICES)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    done = cli("risk", "--portfolio", str(paths.SAMPLE_PORTFOLIO), "--asof", "31/12/2024")
    assert done.returncode == 2 and "is not a YYYY-MM-DD date" in done.stderr


def test_risk_json_has_the_reference_fields():
    done = cli("risk", "--portfolio", str(paths.SAMPLE_PORTFOLIO), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    for key in ("var_95", "var_99", "cvar_95", "portfolio_volatility", "vol_contribution", "largest_position_pct",
                "herfindahl_index", "bound_by", "flagged_positions"):
        assert key in out
    assert out["var_99"] > out["var_95"] > 0


def test_risk_exits_3_when_a_held_feed_is_rejected(bundled_prices_text, instruments, write_prices):
    prices, _ = inject_gaps(bundled_prices_text, instruments, "GOLD", 0.06)
    done = cli("risk", "--portfolio", str(paths.SAMPLE_PORTFOLIO), "--prices", str(write_prices(prices)),
               "--json")
    assert done.returncode == 3
    out = json.loads(done.stdout)
    assert out["rejected_feeds"] == ["GOLD"]
    assert [f["symbol"] for f in out["flagged_positions"]] == ["GOLD"]
    assert "GOLD" in done.stderr


def test_risk_with_a_bad_portfolio_exits_2(tmp_path):
    path = tmp_path / "book.csv"
    path.write_text("symbol,notional,asset_class,sector,region,avg_daily_volume,bid_ask_bps\nZZZ,1,e,s,r,1,1\n")
    done = cli("risk", "--portfolio", str(path))
    assert done.returncode == 2 and "unknown symbol 'ZZZ'" in done.stderr


def backtest_args(prices, instruments, symbol, method):
    return ("backtest", "--prices", prices, "--instruments", instruments, "--symbol", symbol, "--method", method,
            "--confidence", "0.99", "--json")


@pytest.mark.parametrize("method", ["hs", "ewma", "fhs", "garch"])
def test_backtest_json_fields(method):
    done = cli(*backtest_args(PRICES, INSTRUMENTS, "SPX", method), "--start", "2020-01-01")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    for key in ("n", "exceptions", "expected_exceptions", "kupiec_p", "christoffersen_p", "zone", "tick_loss"):
        assert key in out
    assert out["start"] >= "2020-01-01" and out["n"] > 1200
    assert out["zone"] in ("green", "yellow", "red")


def test_backtest_works_on_a_series_outside_the_bundle(tmp_path, bundled_prices_text):
    prices = bundled_prices_text[bundled_prices_text["symbol"] == "SPX"].assign(symbol="ACME")
    prices_path = tmp_path / "acme.csv"
    prices.to_csv(prices_path, index=False)
    instruments_path = tmp_path / "instruments.csv"
    instruments_path.write_text("symbol,asset_class,quote_type,currency,calendar\nACME,equity,price,USD,XNYS\n")
    done = cli(*backtest_args(str(prices_path), str(instruments_path), "ACME", "fhs"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["symbol"] == "ACME"


def test_backtest_bad_symbol_and_rejected_feed(bundled_prices_text, instruments, write_prices):
    done = cli(*backtest_args(PRICES, INSTRUMENTS, "NOPE", "hs"))
    assert done.returncode == 2 and "no rows for symbol 'NOPE'" in done.stderr
    prices, _ = inject_gaps(bundled_prices_text, instruments, "GOLD", 0.06)
    done = cli(*backtest_args(str(write_prices(prices)), INSTRUMENTS, "GOLD", "hs"))
    assert done.returncode == 3 and "GOLD rejected" in done.stderr


def test_backtest_lstm_without_a_registered_model_is_a_clear_error(tmp_path):
    done = cli(*backtest_args(PRICES, INSTRUMENTS, "SPX", "lstm"), "--mlflow-uri", f"sqlite:///{tmp_path}/m.db")
    assert done.returncode == 2 and "has the alias 'experimental'" in done.stderr
