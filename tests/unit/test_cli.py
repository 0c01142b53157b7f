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
    assert out["rejected"][0]["latest_missing_dates"] > "2024"  # newest first: what caused the rejection
    text = cli("check-data", "--prices", str(write_prices(prices)), "--instruments", INSTRUMENTS)
    assert "REJECTED HYG: 6.0% of " in text.stdout and "missing (max 5%); latest missing: 2024-" in text.stdout


def test_check_data_quarantines_the_files_of_rejected_feeds_on_request(bundled_prices_text, instruments,
                                                                         write_prices, tmp_path):
    prices, _ = inject_gaps(bundled_prices_text, instruments, "HYG", 0.06)
    done = cli("check-data", "--prices", str(write_prices(prices)), "--instruments", INSTRUMENTS, "--json",
               "--quarantine", str(tmp_path / "quarantine"))
    assert done.returncode == 3 and "gate failed: missing-data gate (warn): 1 feed(s) rejected: HYG" in done.stderr
    (folder,) = json.loads(done.stdout)["quarantined"]
    reason = json.loads((tmp_path / "quarantine" / folder.split("/")[-1] / "REASON.json").read_text())
    assert [f["symbol"] for f in reason["rejected_feeds"]] == ["HYG"]


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
    done = cli("check-data", "--prices")  # without its value (an omitted flag is the project configuration's)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "expected one argument" in done.stderr
    done = cli("risk", "--portfolio", str(paths.SAMPLE_PORTFOLIO), "--asof", "31/12/2024")
    assert done.returncode == 2 and "is not a YYYY-MM-DD date" in done.stderr


DESIGN_FIELDS = ("var_95", "var_99", "cvar_95", "es_99", "portfolio_volatility", "vol_contribution",
                 "largest_position_pct", "herfindahl_index", "sector_concentration", "liquidity_score",
                 "days_to_liquidate_portfolio", "stress_test_results", "current_regime", "regime_probability",
                 "bound_by", "methods", "flagged_positions")


def test_risk_json_has_the_reference_fields():
    done = cli("risk", "--portfolio", str(paths.SAMPLE_PORTFOLIO), "--mc-scenarios", "2000", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    for key in DESIGN_FIELDS:
        assert key in out, key
    assert out["var_99"] > out["var_95"] > 0
    methods = {"historical", "parametric_ewma", "filtered_historical", "vine_copula", "regime_adjusted"}
    assert methods <= set(out["methods"])
    assert out["models"].startswith("none") and not out["stale"]
    assert "gfc_2008: worst 10-day" in out["stress_test_results"]
    assert out["limits_file"] == str(paths.BUNDLED_LIMITS)  # the limits by default: the project's, else bundled
    var_limit = next(r for r in out["limits"] if r["metric"] == "var_99")
    assert out["headline"].startswith("VaR 99% 1-day USD ")
    assert f", {var_limit['utilisation']:.0%} of limit, bound by " in out["headline"]


def test_stress_json_per_scenario():
    done = cli("stress", "--portfolio", str(paths.SAMPLE_PORTFOLIO), "--mc-scenarios", "2000", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    results = out["stress_test_results"]
    assert len(results) >= 7 * 3 + 5 + 1
    for res in results.values():
        assert {"pnl", "pnl_pct_nav", "pnl_by_position", "pnl_by_asset_class", "details"} <= set(res)
    assert "equities -20%" in results and "counterfactual correlation" not in results  # a VaR, apart
    pnls = [res["pnl"] for res in results.values()]
    assert pnls == sorted(pnls) and out["sign_convention"].startswith("pnl in USD, gains positive")
    counterfactual = out["counterfactual_correlation"]
    assert counterfactual["kind"] == "counterfactual_correlation" and counterfactual["details"]["confidence"] == 0.99


def test_risk_exits_3_when_a_held_feed_is_rejected(bundled_prices_text, instruments, write_prices):
    prices, _ = inject_gaps(bundled_prices_text, instruments, "GOLD", 0.06)
    done = cli("risk", "--portfolio", str(paths.SAMPLE_PORTFOLIO), "--prices", str(write_prices(prices)),
               "--mc-scenarios", "0", "--no-stress", "--json")
    assert done.returncode == 3
    out = json.loads(done.stdout)
    assert out["rejected_feeds"] == ["GOLD"]
    assert [f["symbol"] for f in out["flagged_positions"]] == ["GOLD"]
    assert "GOLD" in done.stderr


def test_stale_prices_give_figures_with_a_stale_flag(bundled_prices_text, write_prices):
    cut = (bundled_prices_text["symbol"] == "SPX") & (bundled_prices_text["date"] > "2024-12-20")
    # the gate evaluates the delivery up to 2024-12-20 (SPX complete there); risk is as of 2024-12-31
    done = cli("stress", "--portfolio", str(paths.SAMPLE_PORTFOLIO), "--prices",
               str(write_prices(bundled_prices_text[~cut])), "--window-end", "2024-12-20", "--mc-scenarios", "500")
    assert done.returncode == 0, done.stderr
    assert "[STALE: SPX]" in done.stdout and "if correlations move to crisis levels" in done.stdout
    lines = done.stdout.splitlines()
    assert lines[1] == "  stress losses (USD, losses positive, each over its scenario's horizon), worst first:"
    assert lines[-2].startswith("  counterfactual correlation (a VaR, not a stress P&L): VaR 99% 1-day USD ")
    assert "stale prices for SPX" in done.stderr


def test_risk_with_a_bad_portfolio_exits_2(tmp_path):
    path = tmp_path / "book.csv"
    path.write_text("symbol,notional,asset_class,sector,region,avg_daily_volume,bid_ask_bps\nZZZ,1,e,s,r,1,1\n")
    done = cli("risk", "--portfolio", str(path))
    assert done.returncode == 2 and "unknown symbol 'ZZZ'" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


BOOK_HEADER = "symbol,notional,asset_class,sector,region,avg_daily_volume,bid_ask_bps\n"
BOOK_ROW = "SPX,1000000,equity,US,US,1e9,1\n"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("book.csv", BOOK_HEADER + BOOK_ROW + "NOPE,1,equity,US,US,1e9,1\n", "line 3: unknown symbol 'NOPE'"),
        ("book.csv", "symbol,notional,sector,region,avg_daily_volume,bid_ask_bps\nSPX,1000000,US,US,1e9,1\n",
         "missing column(s) asset_class"),
        ("book.csv", "symbol,notional,sector,region,avg_daily_volume,bid_ask_bps\n" + BOOK_ROW,
         "not a readable CSV file (Expected 6 fields in line 2, saw 7)"),  # once silently read as an index column
        ("book.csv", BOOK_HEADER + BOOK_ROW + "RUT,1,equity,US,US,-5,1\n",
         "line 3: RUT avg_daily_volume must be positive"),
        ("book.csv", BOOK_HEADER + BOOK_ROW + BOOK_ROW, "line 3: duplicated position for SPX (same as line 2"),
        ("book.yaml", "portfolio: {nav: 0}\npositions:\n - {symbol: SPX, notional: 1, asset_class: equity, sector: x,"
         " region: US, avg_daily_volume: 1, bid_ask_bps: 1}\n", "nav must be a finite positive number, got 0"),
    ],
)
@pytest.mark.parametrize("command", ["risk", "stress"])
def test_bad_positions_exit_2_naming_the_row(tmp_path, capsys, name, content, expected, command):
    from risk_platform.cli import main

    path = tmp_path / name
    path.write_text(content)
    assert main([command, "--portfolio", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(path) in err and err.count("\n") == 1


def backtest_args(prices, instruments, symbol, method):
    return ("backtest", "--prices", prices, "--instruments", instruments, "--symbol", symbol, "--method", method,
            "--confidence", "0.99", "--json")


@pytest.mark.parametrize("method", ["hs", "ewma", "fhs"])  # garch, evt_*: the --compare tests, same days
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


def test_backtest_refuses_a_window_too_short_for_a_tail_statistic():
    """``--window 1`` once printed ``ES Z2 +nan (green)``; a one-day window is now refused (the library says
    "not evaluable" for any undefined statistic: tests/unit/validation/test_backtest.py)."""
    done = cli(*backtest_args(PRICES, INSTRUMENTS, "SPX", "fhs")[:-1], "--window", "1", "--start", "2024-01-01")
    assert done.returncode == 2 and "nan" not in done.stdout + done.stderr
    assert done.stderr == "risk-platform: error: argument --window: must be at least 20, got 1\n"


COMPARE_FIELDS = ("method", "family", "learned", "n", "exceptions", "expected_exceptions", "zone", "kupiec_p",
                  "kupiec_p_boot", "christoffersen_p", "christoffersen_p_boot", "conditional_coverage_p",
                  "conditional_coverage_p_boot", "tick_loss", "in_mcs_90", "dm_p_worse_vs_best_baseline")
SAME_FIGURES = ("n", "exceptions", "expected_exceptions", "zone", "kupiec_p", "christoffersen_p",
                "conditional_coverage_p", "tick_loss")


def run_json(capsys, *args) -> tuple[int, dict]:
    from risk_platform.cli import main

    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_backtest_compare_on_a_series_matches_the_single_method_backtest(capsys, tmp_path):
    """The table's figures are the single-method backtest's on the same days; an LSTM method that cannot run
    (no MLflow store) is named in ``not_run`` with why, not a crash."""
    no_store = ("--mlflow-uri", f"sqlite:///{tmp_path / 'none.db'}")
    days = ("--symbol", "SPX", "--confidence", "0.99", "--start", "2024-01-01", "--end", "2024-09-30")
    code, out = run_json(capsys, "backtest", *days, "--compare", "--methods", "hs,evt_ewma,lstm", *no_store)
    assert code == 0
    assert [r["method"] for r in out["rows"]] == ["hs", "evt_ewma"]
    for row in out["rows"]:
        assert set(COMPARE_FIELDS) <= set(row)
    assert out["best_baseline"] == "hs" and out["best_model"] == "evt_ewma" and out["best_learned"] is None
    assert out["best_not_learned"] in ("hs", "evt_ewma")
    assert out["learned_vs_not_learned"] == {"best_learned": None,
                                             "best_not_learned": next(r for r in out["rows"]
                                                                      if r["method"] == out["best_not_learned"])}
    assert "no MLflow store there" in out["not_run"]["lstm"] and list(out["not_run"]) == ["lstm"]
    assert out["loss_unit"] == "log return" and (out["start"], out["end"]) == ("2024-01-02", "2024-09-30")
    code, single = run_json(capsys, "backtest", *days, "--method", "evt_ewma")
    assert code == 0 and (single["start"], single["end"]) == (out["start"], out["end"])
    row = next(r for r in out["rows"] if r["method"] == "evt_ewma")
    assert {k: row[k] for k in SAME_FIGURES} == {k: single[k] for k in SAME_FIGURES}


def test_backtest_compare_on_the_sample_book_matches_the_single_method_backtest(capsys):
    days = ("--portfolio", str(paths.SAMPLE_PORTFOLIO), "--start", "2024-10-01")
    code, out = run_json(capsys, "backtest", *days, "--compare", "--methods", "fhs,ewma")
    assert code == 0 and out["loss_unit"] == "USD" and out["not_run"] == {}
    assert [r["method"] for r in out["rows"]] == ["fhs", "ewma"] and out["best_model"] is None
    assert out["exposure_usd"] and out["excluded_positions"] == []
    code, single = run_json(capsys, "backtest", *days, "--method", "fhs")
    row = out["rows"][0]
    assert code == 0 and {k: row[k] for k in SAME_FIGURES} == {k: single[k] for k in SAME_FIGURES}


def test_backtest_compare_prints_an_aligned_table_with_units(capsys):
    from risk_platform.cli import main

    assert main(["backtest", "--symbol", "UST10Y", "--compare", "--methods", "hs,fhs", "--start", "2024-07-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "tick loss in bp of yield per day" in lines[0] and "p-values asymptotic/bootstrap" in lines[0]
    header, *rows = lines[1:4]
    assert header.split()[:3] == ["method", "family", "learned"] and [r.split()[0] for r in rows] == ["hs", "fhs"]
    column = header.index("zone")
    assert all(r[column - 2:column] == "  " and r[column] != " " for r in rows)  # the zone column lines up
    assert lines[4].startswith("best baseline: ") and lines[5] == "best model: -" and len(lines) == 8


@pytest.mark.parametrize(("args", "expected"), [
    (("--compare", "--method", "hs"), "--compare runs several methods: name them with --methods, not --method"),
    (("--methods", "hs,fhs"), "--methods goes with --compare"),
    (("--compare", "--methods", "hs,nope"), "argument --methods: 'hs,nope': expected distinct methods among"),
    (("--compare", "--methods", "hs,hs"), "argument --methods: 'hs,hs': expected distinct methods among"),
])
def test_backtest_compare_usage_errors_exit_2_with_one_line(capsys, args, expected):
    done = cli("backtest", "--symbol", "SPX", *args)
    assert done.returncode == 2 and expected in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize(("args", "expected"), [
    ((), "give exactly one source of price updates"),
    (("--replay", "nowhere.csv", "--landing", "."), "give exactly one source of price updates"),
    (("--replay", "nowhere.csv", "--no-page"), "nowhere.csv: cannot read the replay file"),
    (("--replay", "x.csv", "--close-utc", "9pm"), "argument --close-utc: '9pm' is not a time HH:MM"),
    (("--landing", "no/such/folder", "--no-page"), "no/such/folder: the landing folder does not exist"),
])
def test_monitor_bad_input_exits_2_with_one_line(args, expected):
    done = cli("monitor", "--no-models", *args)
    assert done.returncode == 2 and expected in done.stderr and done.stderr.count("\n") == 1
