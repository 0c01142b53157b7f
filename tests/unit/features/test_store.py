"""Feature store: year partitions, content hashes, atomic writes, point-in-time reads."""

import hashlib

import pandas as pd
import pyarrow.parquet as pq
import pytest

from risk_platform.errors import InputError
from risk_platform.features.store import FeatureStore


def frame(start="2022-12-28", periods=10, value=1.0):
    dates = pd.bdate_range(start, periods=periods)
    return pd.DataFrame({"date": dates, "symbol": "SPX", "x": value})


def test_write_partitions_by_year_with_hashes(tmp_path):
    store = FeatureStore(tmp_path)
    manifest = store.write("t", frame())
    assert [p.year for p in manifest.partitions] == [2022, 2023]
    for p in manifest.partitions:
        assert hashlib.sha256((tmp_path / p.path).read_bytes()).hexdigest() == p.sha256
    assert manifest.rows == 10
    pd.testing.assert_frame_equal(store.read("t", verify=True), frame())


def test_as_of_read_returns_nothing_after_the_date(tmp_path):
    store = FeatureStore(tmp_path)
    store.write("t", frame())
    got = store.read("t", as_of=pd.Timestamp("2022-12-30"))
    assert got["date"].max() == pd.Timestamp("2022-12-30") and len(got) == 3


def test_failed_write_keeps_the_previous_good_state(tmp_path, monkeypatch):
    store = FeatureStore(tmp_path)
    store.write("t", frame(value=1.0))
    calls = {"n": 0}
    real = pq.write_table

    def failing(table, where, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", failing)
    with pytest.raises(OSError):
        store.write("t", frame(value=2.0))
    monkeypatch.setattr(pq, "write_table", real)
    assert not list(tmp_path.rglob("*.tmp-*"))  # no temporary files left
    pd.testing.assert_frame_equal(store.read("t", verify=True), frame(value=1.0))


def test_rewrite_drops_years_no_longer_present(tmp_path):
    store = FeatureStore(tmp_path)
    store.write("t", frame())
    store.write("t", frame(start="2023-02-01", periods=3))
    assert [p.year for p in store.manifest("t").partitions] == [2023]
    assert not (tmp_path / "t" / "year=2022").exists()


def test_unknown_table_and_empty_frame(tmp_path):
    store = FeatureStore(tmp_path)
    with pytest.raises(InputError, match="not in store"):
        store.read("nope")
    with pytest.raises(InputError, match="nothing to write"):
        store.write("t", frame().iloc[:0])


def test_verify_detects_a_tampered_partition(tmp_path):
    store = FeatureStore(tmp_path)
    manifest = store.write("t", frame())
    target = tmp_path / manifest.partitions[0].path
    FeatureStore(tmp_path / "other").write("t", frame(value=9.0))
    target.write_bytes((tmp_path / "other" / FeatureStore(tmp_path / "other").manifest("t").partitions[0].path)
                       .read_bytes())
    with pytest.raises(InputError, match="does not match its manifest hash"):
        store.read("t", verify=True)
