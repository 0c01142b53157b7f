"""One way to point the platform at a team's own data: flag > environment > risk_platform.yaml > bundled, read
alike by the CLI and the embedded Dagster resources."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from resources import resources_for_env
from risk_platform import paths
from risk_platform.cli import main
from risk_platform.errors import InputError
from risk_platform.project_config import CONFIG_ENV, load_project_config

RENAMED = {"SPX": "ACME", "RUT": "SMALLCO", "UST10Y": "GOV10", "TLT": "LONGBOND"}


def _own_universe(root: Path) -> Path:
    """A team's files, made of the bundled data renamed and subset: a directory of one CSV per series, an
    instruments file, a book; and the ``risk_platform.yaml`` naming them (relative paths). Returns the file."""
    prices = pd.read_csv(paths.BUNDLED_PRICES, dtype=str, keep_default_na=False)
    prices = prices[prices["symbol"].isin(RENAMED)].assign(symbol=lambda f: f["symbol"].map(RENAMED))
    folder = root / "data" / "prices"
    folder.mkdir(parents=True)
    for symbol, feed in prices.groupby("symbol"):
        feed.to_csv(folder / f"{symbol}.csv", index=False)
    instruments = pd.read_csv(paths.BUNDLED_INSTRUMENTS, dtype=str, keep_default_na=False)
    instruments = instruments[instruments["symbol"].isin(RENAMED)].assign(symbol=lambda f: f["symbol"].map(RENAMED))
    instruments.to_csv(root / "data" / "instruments.csv", index=False)
    position = {"asset_class": "equity", "sector": "US", "region": "US", "avg_daily_volume": 1e10, "bid_ask_bps": 1}
    book = {"portfolio": {"name": "Own book", "base_currency": "USD", "nav": 100_000_000},
            "positions": [{"symbol": "ACME", "notional": 50_000_000, **position},
                          {"symbol": "GOV10", "notional": 30_000_000, "dv01": 20_000, **position,
                           "asset_class": "rates"}]}
    (root / "data" / "book.yaml").write_text(yaml.safe_dump(book))
    config = root / "risk_platform.yaml"
    config.write_text("prices: data/prices\ninstruments: data/instruments.csv\npositions: data/book.yaml\n"
                      "landing_prices: landing/prices\n")
    return config


def test_the_project_file_is_what_the_cli_and_the_embedded_resources_read(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CONFIG_ENV, str(_own_universe(tmp_path)))
    data = tmp_path / "data"
    assert main(["check-data", "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert sorted(checked["accepted"]) == sorted(RENAMED.values())
    assert sorted(f["path"] for f in checked["files"]) == sorted(str(p) for p in (data / "prices").iterdir())
    assert main(["risk", "--json", "--mc-scenarios", "0", "--no-stress", "--evaluation-date", "2025-01-02"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["portfolio"] == "Own book" and report["nav"] == 100_000_000
    resources = resources_for_env("embedded")
    assert resources["market_data"].prices_path == str(data / "prices")
    assert resources["market_data"].instruments_path == str(data / "instruments.csv")
    assert resources["portfolio_source"].positions_path == str(data / "book.yaml")
    assert resources["limits_source"].limits_path == str(paths.BUNDLED_LIMITS)  # not in the file: bundled
    assert resources["landing"].prices_dir == str(tmp_path / "landing" / "prices")


def test_without_a_file_or_variables_the_bundled_data_are_used():
    config = load_project_config()
    assert (config.prices, config.instruments, config.positions, config.limits) == (
        paths.BUNDLED_PRICES, paths.BUNDLED_INSTRUMENTS, paths.SAMPLE_PORTFOLIO, paths.BUNDLED_LIMITS)
    assert set(config.sources.values()) == {"bundled"} and config.landing_prices is None


def test_a_variable_beats_the_file_and_a_flag_beats_the_variable(tmp_path, monkeypatch):
    file = _own_universe(tmp_path)
    monkeypatch.setenv(CONFIG_ENV, str(file))
    monkeypatch.setenv("RISK_PLATFORM_PRICES", str(paths.BUNDLED_PRICES))
    config = load_project_config()
    assert config.prices == paths.BUNDLED_PRICES and config.sources["prices"] == "RISK_PLATFORM_PRICES"
    assert config.instruments == tmp_path / "data" / "instruments.csv" and config.sources["instruments"] == str(file)
    flagged = load_project_config({"prices": tmp_path / "data" / "prices", "instruments": None})
    assert flagged.prices == tmp_path / "data" / "prices" and flagged.sources["prices"] == "flag"
    assert flagged.sources["instruments"] == str(file)


def test_the_cli_flag_beats_the_variable(tmp_path, monkeypatch, capsys):
    _own_universe(tmp_path)
    monkeypatch.setenv("RISK_PLATFORM_PRICES", str(tmp_path / "data" / "prices"))
    monkeypatch.setenv("RISK_PLATFORM_INSTRUMENTS", str(tmp_path / "data" / "instruments.csv"))
    assert main(["check-data", "--json"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)["accepted"]) == sorted(RENAMED.values())
    assert main(["check-data", "--json", "--prices", str(paths.BUNDLED_PRICES),
                 "--instruments", str(paths.BUNDLED_INSTRUMENTS)]) == 0
    assert len(json.loads(capsys.readouterr().out)["accepted"]) == 28


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("price: data/prices.csv\n", "{file}: unknown key 'price' (known: prices, instruments, positions, limits,"
                                     " landing_prices, landing_positions)"),
        ("prices: nowhere.csv\n", "{file}: prices: {root}/nowhere.csv not found"),
        ("instruments: data\n", "{file}: instruments: {root}/data is a directory, expected a file"),
        ("landing_prices: data/instruments.csv\n",
         "{file}: landing_prices: {root}/data/instruments.csv is a file, expected a directory"),
        ("limits: 3\n", "{file}: limits: expected a path, got 3"),
        ("- prices\n", "{file}: expected a mapping of settings (prices, instruments, positions, limits,"
                       " landing_prices, landing_positions), got list"),
    ],
)
def test_a_bad_project_file_is_one_line_naming_the_file_and_key(tmp_path, monkeypatch, capsys, content, expected):
    file = tmp_path / "risk_platform.yaml"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "instruments.csv").write_text("symbol\n")
    file.write_text(content)
    monkeypatch.setenv(CONFIG_ENV, str(file))
    line = expected.format(file=file, root=tmp_path)
    with pytest.raises(InputError) as raised:
        load_project_config()
    assert str(raised.value) == line
    assert main(["check-data"]) == 2
    assert capsys.readouterr().err == f"risk-platform: error: {line}\n"
    with pytest.raises(InputError, match=f"^{re.escape(line)}$"):
        resources_for_env("embedded")


def test_a_bad_variable_or_a_missing_config_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("RISK_PLATFORM_POSITIONS", str(tmp_path))
    with pytest.raises(InputError, match=rf"^RISK_PLATFORM_POSITIONS: {tmp_path} is a directory, expected a file$"):
        load_project_config()
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "absent.yaml"))
    with pytest.raises(InputError, match=rf"^{CONFIG_ENV}: {tmp_path}/absent.yaml not found, expected a"):
        load_project_config()


def test_production_keeps_requiring_its_variables(tmp_path, monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, str(_own_universe(tmp_path)))
    production = resources_for_env("production")
    # the variables, not the file's paths: Dagster resolves them at run time and fails a run without them
    assert production["market_data"].prices_path.env_var_name == "RISK_PLATFORM_PRICES"
    assert production["portfolio_source"].positions_path.env_var_name == "RISK_PLATFORM_POSITIONS"
