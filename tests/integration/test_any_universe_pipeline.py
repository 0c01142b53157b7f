"""The main job on universes unlike the bundled one, built from the real bundled data renamed and subset, each
pointed at through the project configuration (a ``risk_platform.yaml`` naming prices, instruments and a book):
the pipeline (smoke trainings), two crisis windows, the promotion and the risk run, with nothing failing and
every limitation stated."""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from assets import ALL_ASSETS
from resources import embedded_resources
from risk_platform import paths
from risk_platform.project_config import load_project_config

pytestmark = pytest.mark.integration
FAMILIES = ("lstm_vol", "gnn_corr", "gan_scenarios", "vae_scenarios")
SMOKE = {"preset": "demo", "fast_dev_run": True}
PIPELINE = dg.AssetSelection.groups("ingestion", "features", "models", "risk", "monitoring")
WINDOWS = dg.AssetSelection.groups("validation") - dg.AssetSelection.assets("model_promotion")
POSITION = {"sector": "x", "region": "US", "avg_daily_volume": 1e10, "bid_ask_bps": 1.0}


@dataclass(frozen=True)
class Universe:
    """A subset of the bundled series under new names, over ``start``..``end``, with a book on it."""

    name: str
    rename: dict[str, str]  # bundled symbol -> the universe's symbol
    positions: list[dict]
    windows: tuple[str, str]  # (a window inside the data, a window outside it)
    start: str = "2000-01-01"
    end: str = "2024-12-31"


UNIVERSES = [
    Universe("five series 2012-2021, renamed", {"SPX": "EQ_US", "TLT": "BOND_ETF", "UST10Y": "YLD_10Y",
                                                "EURUSD": "EURUSD", "GOLD": "METAL"},
             [{"symbol": "EQ_US", "notional": 40e6, "asset_class": "equity"},
              {"symbol": "BOND_ETF", "notional": 30e6, "asset_class": "rates"},
              {"symbol": "YLD_10Y", "notional": 20e6, "dv01": 15000, "asset_class": "rates"},
              {"symbol": "EURUSD", "notional": -10e6, "asset_class": "fx"},
              {"symbol": "METAL", "notional": 5e6, "asset_class": "commodity"}],
             ("covid_2020", "svb_2023"), start="2012-01-01", end="2021-12-31"),
    pytest.param(Universe("equities only, renamed", {"SPX": "ALPHA", "RUT": "BETA", "EEM": "GAMMA", "N225": "DELTA"},
                          [{"symbol": "ALPHA", "notional": 50e6, "asset_class": "equity"},
                           {"symbol": "BETA", "notional": -20e6, "asset_class": "equity"},
                           {"symbol": "GAMMA", "quantity": 100000, "asset_class": "equity"}],
                          ("covid_2020", "gfc_2008"), start="2010-01-01"),
                 marks=pytest.mark.slow, id="equities only"),
    pytest.param(Universe("rates and FX only", {"UST2Y": "UST2Y", "UST10Y": "UST10Y", "TLT": "TLT",
                                                "EURUSD": "EURUSD", "USDJPY": "USDJPY"},
                          [{"symbol": "UST10Y", "notional": 50e6, "dv01": 40000, "asset_class": "rates"},
                           {"symbol": "TLT", "quantity": 100000, "asset_class": "rates"},
                           {"symbol": "USDJPY", "notional": 10e6, "asset_class": "fx"}],
                          ("rates_2022", "svb_2023"), end="2022-12-31"),
                 marks=pytest.mark.slow, id="rates and FX only"),
]


def write_universe(universe: Universe, folder: Path) -> Path:
    """Prices (a folder of one CSV per series), instruments and a book for ``universe``; returns the config."""
    prices = pd.read_csv(paths.BUNDLED_PRICES, dtype=str, keep_default_na=False)
    instruments = pd.read_csv(paths.BUNDLED_INSTRUMENTS, dtype=str, keep_default_na=False)
    keep = prices["symbol"].isin(universe.rename) & prices["date"].between(universe.start, universe.end)
    prices = prices[keep].assign(symbol=lambda f: f["symbol"].map(universe.rename))
    (folder / "prices").mkdir(parents=True)
    for symbol, rows in prices.groupby("symbol"):
        rows.to_csv(folder / "prices" / f"{symbol}.csv", index=False)
    instruments = instruments[instruments["symbol"].isin(universe.rename)]
    instruments.assign(symbol=instruments["symbol"].map(universe.rename)).to_csv(folder / "instruments.csv",
                                                                                 index=False)
    book = {"portfolio": {"name": universe.name, "base_currency": "USD", "nav": 200e6},
            "positions": [{**POSITION, **p} for p in universe.positions]}
    (folder / "book.yaml").write_text(yaml.safe_dump(book))
    (folder / "limits.yaml").write_text(yaml.safe_dump({"version": 1, "limits": [  # the team's own limits
        {"name": "var99_pct_nav", "family": "var", "metric": "var_99", "scale": "pct_nav", "warn": 8.0,
         "breach": 10.0}]}))
    config = folder / "risk_platform.yaml"
    config.write_text(yaml.safe_dump({"prices": "prices", "instruments": "instruments.csv", "positions": "book.yaml",
                                      "limits": "limits.yaml"}))
    return config


@pytest.mark.parametrize("universe", UNIVERSES, ids=lambda u: getattr(u, "name", None))
def test_the_main_job_runs_on_a_universe_unlike_the_bundled_one(universe, tmp_path):
    config = load_project_config(environ={"RISK_PLATFORM_CONFIG": str(write_universe(universe, tmp_path / "data"))})
    resources = embedded_resources(tmp_path / "state", config)
    instance = dg.DagsterInstance.ephemeral()
    smoke = {"ops": {f"{f}_model": {"config": SMOKE} for f in FAMILIES}}
    pipeline = dg.materialize(ALL_ASSETS, selection=PIPELINE, resources=resources, instance=instance,
                              run_config=smoke, raise_on_error=False)
    assert pipeline.success, [e.message for e in pipeline.all_events if e.is_failure]
    assert {e.asset_check_key.name for e in pipeline.get_asset_check_evaluations() if not e.passed} <= {
        "data_fresh"}  # the data end years before today: stale against the clock, said so
    names = set(universe.rename.values())
    for family in FAMILIES:
        out = pipeline.output_for_node(f"{family}_model")
        registered = resources["mlflow"].registry().load(family, "experimental").metadata["symbols"]
        assert set(registered) <= names and out["version"] == "1", family
    validations = {"ops": {f"{f}_crisis_validation": {"config": SMOKE} for f in FAMILIES}}
    stored = {}
    for window in universe.windows:
        run = dg.materialize(ALL_ASSETS, selection=WINDOWS, partition_key=window, resources=resources,
                             instance=instance, run_config=validations, raise_on_error=False)
        assert run.success, (window, [e.message for e in run.all_events if e.is_failure])
        stored[window] = run.output_for_node("crisis_baselines")
    inside, outside = (stored[w]["status"] for w in universe.windows)
    assert inside == "evaluated" and outside.startswith(f"not evaluable: window {universe.windows[1]}")
    promotion = dg.materialize(ALL_ASSETS, selection=dg.AssetSelection.assets("model_promotion"),
                               resources=resources, instance=instance, raise_on_error=False)
    assert promotion.success
    decisions = promotion.output_for_node("model_promotion")["decisions"]
    assert [d["model"] for d in decisions] == list(FAMILIES) and not any(d["passed"] for d in decisions)
    risk = dg.materialize(ALL_ASSETS, selection=dg.AssetSelection.groups("risk"), resources=resources,
                          instance=instance, raise_on_error=False)
    assert risk.success
    report = risk.output_for_node("portfolio_risk")
    assert report["portfolio"] == universe.name and report["var_99"] > report["var_95"] > 0
    assert not [f for f in report["flagged_positions"] if f["excluded"]]
    methods = report["methods"]
    assert any(name.endswith("[experimental]") for name in methods), sorted(methods)  # the models' methods ran
    stated = [n for n in report["notes"] if n.startswith(f"crisis window {universe.windows[1]} ")]
    assert stated and stated[0].endswith("not evaluable, not replayed"), report["notes"]
