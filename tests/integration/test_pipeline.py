"""The whole asset graph through Dagster on the real bundled data, in a temporary state directory."""

import json
import shutil

import dagster as dg
import pandas as pd
import pytest

from assets import ALL_ASSETS, DATA_GROUPS
from resources import MarketDataResource, embedded_resources
from risk_platform import paths
from risk_platform.data.loading import sha256_file
from risk_platform.features.correlation import NEIGHBOUR_TABLE, NEIGHBOURS, latest_correlation, neighbour_edges
from risk_platform.features.store import FeatureStore
from tests.conftest import inject_gaps

pytestmark = pytest.mark.integration
GATE = dg.AssetCheckKey(dg.AssetKey("market_panel"), "missing_data_gate")
DATA = dg.AssetSelection.groups(*DATA_GROUPS)  # the models have their own tests (tests/integration/test_models.py)


def materialize_data(resources, **kwargs):
    return dg.materialize(ALL_ASSETS, selection=DATA, resources=resources,
                          instance=dg.DagsterInstance.ephemeral(), **kwargs)


def resources_with_prices(state, prices_path):
    resources = embedded_resources(state)
    market = resources["market_data"]
    resources["market_data"] = MarketDataResource(**{**market.model_dump(), "prices_path": str(prices_path)})
    return resources


def check_evaluation(result, key):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == key]
    return evaluation


def test_definitions_load():
    from risk_platform.definitions import defs

    job = defs.resolve_job_def("risk_pipeline")
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw_prices", "market_panel", "feed_quality", "returns", "daily_features", "correlation_features",
            "portfolio", "portfolio_risk", "vol_baselines", "lstm_vol_model"} <= keys
    assert defs.resolve_job_def("retrain_models").name == "retrain_models"
    spec = next(s for s in graph.asset_check_keys if s == GATE)
    assert graph.get_check_spec(spec).blocking
    assert job.name == "risk_pipeline"


def test_whole_graph_materializes_on_the_bundled_data(tmp_path):
    result = materialize_data(embedded_resources(tmp_path))
    assert result.success
    assert check_evaluation(result, GATE).passed
    report = result.output_for_node("portfolio_risk")
    assert report["var_99"] > report["var_95"] > 0 and not report["flagged_positions"]
    store = FeatureStore(tmp_path / "feature_store")
    daily = store.manifest("daily_features")
    assert [p.year for p in daily.partitions] == list(range(2000, 2025))
    assert all(sha256_file(tmp_path / "feature_store" / p.path) == p.sha256 for p in daily.partitions)
    neighbours = store.manifest(NEIGHBOUR_TABLE)  # top-k neighbours per date, not every pair on every date
    assert [p.year for p in neighbours.partitions] == list(range(2000, 2025))
    assert all(sha256_file(tmp_path / "feature_store" / p.path) == p.sha256 for p in neighbours.partitions)
    latest_date, matrix = latest_correlation(store)
    n = len(matrix)
    assert latest_date.year == 2024 and n > 20
    assert 1_000_000 < neighbours.rows <= 25 * 262 * n * NEIGHBOURS
    edges = neighbour_edges(store, latest_date)
    assert len(edges.frame) == n * NEIGHBOURS and edges.index(list(matrix.index)).shape == (2, n * NEIGHBOURS)
    assert not (tmp_path / "quarantine").exists()
    # the GX validation result is kept under its id, as the check metadata says
    gate_meta = check_evaluation(result, GATE).metadata
    validation = tmp_path / "gx_validations" / f"{gate_meta['gx_validation_id'].value}.json"
    assert json.loads(validation.read_text())["success"] is True


def test_a_six_percent_incomplete_feed_is_rejected_by_name_while_the_others_flow_on(tmp_path):
    prices = pd.read_csv(paths.BUNDLED_PRICES, dtype=str, keep_default_na=False)
    instruments = pd.read_csv(paths.BUNDLED_INSTRUMENTS, dtype=str, keep_default_na=False)
    gapped, _ = inject_gaps(prices, instruments, "GOLD", 0.06)
    landing = tmp_path / "landing"
    landing.mkdir()
    prices_path = landing / "prices.csv"
    gapped.to_csv(prices_path, index=False)
    before = sha256_file(prices_path)

    result = materialize_data(resources_with_prices(tmp_path, prices_path))
    assert result.success  # a partial rejection warns; the remaining feeds proceed
    gate = check_evaluation(result, GATE)
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.WARN
    assert gate.metadata["rejected"].value == "GOLD"
    assert "GOLD: 6.0" in gate.metadata["rejections"].value
    panel = result.output_for_node("market_panel", "market_panel")
    assert "GOLD" not in set(panel["symbol"]) and panel["symbol"].nunique() == 27
    daily = FeatureStore(tmp_path / "feature_store").read("daily_features")
    assert "GOLD" not in set(daily["symbol"])
    report = result.output_for_node("portfolio_risk")
    assert [f["symbol"] for f in report["flagged_positions"]] == ["GOLD"]
    assert not check_evaluation(result, dg.AssetCheckKey(dg.AssetKey("portfolio_risk"), "all_positions_valued")).passed
    # raw file untouched, a byte-identical copy quarantined with its reason
    assert sha256_file(prices_path) == before
    (reason_file,) = (tmp_path / "quarantine").glob("*/REASON.json")
    reason = json.loads(reason_file.read_text())
    assert reason["sha256"] == before and reason["rejected_feeds"][0]["symbol"] == "GOLD"
    assert sha256_file(reason_file.parent / "prices.csv") == before


def test_when_no_feed_passes_the_blocking_gate_stops_downstream(tmp_path):
    days = pd.bdate_range("2024-01-02", "2024-12-31")
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "symbol": "SPX", "value": "5000"}).iloc[::2]
    prices_path = tmp_path / "prices.csv"
    frame.to_csv(prices_path, index=False)
    result = materialize_data(resources_with_prices(tmp_path, prices_path), raise_on_error=False)
    gate = check_evaluation(result, GATE)
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "market_panel" in materialized and "returns" not in materialized and "portfolio_risk" not in materialized


def test_job_runs_twice_on_a_persistent_instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(paths.PACKAGE_DIR.parent / "resources" / "instance" / "embedded.yaml", home / "dagster.yaml")
    data_job = dg.define_asset_job("data_pipeline", selection=DATA)
    defs = dg.Definitions(assets=ALL_ASSETS, jobs=[data_job],
                          resources=embedded_resources(tmp_path / "state"))
    job = defs.resolve_job_def("data_pipeline")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        first = job.execute_in_process(instance=instance)
        second = job.execute_in_process(instance=instance)  # idempotent: no "already exists"
        assert first.success and second.success
        event = instance.get_latest_materialization_event(dg.AssetKey("portfolio_risk"))
        assert event.run_id == second.run_id
        record = instance.get_latest_asset_check_evaluation_record(GATE)
        assert record.run_id == second.run_id and record.evaluation.passed
        assert len(instance.get_runs()) == 2
        # the history keyed by as-of date: two runs for one as-of date are one partition (one point in its plot)
        report = second.output_for_node("portfolio_risk")
        assert instance.get_dynamic_partitions("risk_asof") == [report["asof"]] == ["2024-12-31"]
        history = instance.get_latest_materialization_event(dg.AssetKey("risk_history"))
        materialization = history.asset_materialization
        assert history.run_id == second.run_id and materialization.partition == "2024-12-31"
        assert materialization.metadata["var_99_usd"].value == round(report["var_99"], 2)
        assert next(iter(materialization.metadata)) == "headline"


def test_resources_are_picked_by_environment(monkeypatch):
    from resources import resources_for_env

    monkeypatch.setenv("RISK_PLATFORM_ENV", "production")
    production = resources_for_env()
    assert set(production) == set(embedded_resources())
    monkeypatch.setenv("RISK_PLATFORM_ENV", "staging")
    with pytest.raises(ValueError, match="embedded' or 'production"):
        resources_for_env()
