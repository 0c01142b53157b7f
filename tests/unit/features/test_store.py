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


def opened_years(monkeypatch) -> list[int]:
    """The year partitions ``pq.read_table`` opens from now on."""
    opened = []
    real = pq.read_table

    def recording(source, *args, **kwargs):
        opened.append(int(str(source).split("year=")[1][:4]))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", recording)
    return opened


def test_reads_open_only_the_year_partitions_of_their_dates(tmp_path, monkeypatch):
    store = FeatureStore(tmp_path)
    store.write("t", frame(start="2020-12-01", periods=800))  # 2020 .. 2023
    opened = opened_years(monkeypatch)
    got = store.read("t", as_of=pd.Timestamp("2021-06-30"))
    assert opened == [2020, 2021] and got["date"].max() == pd.Timestamp("2021-06-30")
    opened.clear()
    got = store.read("t", start=pd.Timestamp("2022-03-01"), as_of=pd.Timestamp("2022-03-31"))
    assert opened == [2022] and len(got) == 23 and got["date"].min() == pd.Timestamp("2022-03-01")
    opened.clear()
    assert store.read("t", start=pd.Timestamp("2023-01-01"))["date"].min() == pd.Timestamp("2023-01-02")
    assert opened == [2023]


def test_read_latest_opens_the_year_of_as_of_and_steps_back_only_when_it_is_empty(tmp_path, monkeypatch):
    store = FeatureStore(tmp_path)
    many = pd.concat([frame(start="2020-12-01", periods=800), frame(start="2020-12-01", periods=800)
                      .assign(symbol="UST10Y")], ignore_index=True)
    store.write("t", many)
    opened = opened_years(monkeypatch)
    got = store.read_latest("t", pd.Timestamp("2022-07-03"))  # a Sunday
    assert opened == [2022] and set(got["date"]) == {pd.Timestamp("2022-07-01")} and len(got) == 2
    opened.clear()
    got = store.read_latest("t", pd.Timestamp("2022-01-01"))  # before the year's first row: the year before
    assert opened == [2022, 2021] and set(got["date"]) == {pd.Timestamp("2021-12-31")}
    opened.clear()
    assert store.read_latest("t", pd.Timestamp("2030-01-01"))["date"].max() == many["date"].max()
    assert opened == [2023]
    assert store.read_latest("t", pd.Timestamp("2019-12-31")).empty
