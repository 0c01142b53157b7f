"""Price updates: validation (one-line rejections) and the replay plans of daily and intraday files."""

from __future__ import annotations

import pandas as pd
import pytest

from risk_platform.errors import InputError
from risk_platform.monitor.updates import LandingFolderSource, UpdateRejected, parse_update, read_replay

KNOWN = frozenset({"SPX", "UST10Y"})


def test_a_valid_update_is_read_in_utc():
    update = parse_update({"time": "2024-03-01T15:00:00", "prices": {"SPX": "5100.5"}}, KNOWN, "t")
    assert update.time == pd.Timestamp("2024-03-01 15:00", tz="UTC") and update.prices == {"SPX": 5100.5}


@pytest.mark.parametrize(("raw", "words"), [
    ({"time": "2024-03-01T15:00", "prices": {"XYZ": 1.0}}, "symbol 'XYZ'"),
    ({"time": "2024-03-01T15:00", "prices": {"SPX": "abc"}}, "SPX value 'abc' is not a number"),
    ({"time": "2024-03-01T15:00", "prices": {"SPX": float("nan")}}, "SPX value nan is not finite"),
    ({"time": "yesterday-ish", "prices": {"SPX": 1.0}}, "is not a timestamp"),
    ({"time": "2024-03-01T15:00", "prices": {}}, "no prices"),
    ({"time": "2024-03-01T13:00", "prices": {"SPX": 1.0}}, "before the last update"),
    (["not", "an", "object"], "not an object"),
])
def test_a_bad_update_is_rejected_in_one_line_naming_what(raw, words):
    with pytest.raises(UpdateRejected) as caught:
        parse_update(raw, KNOWN, "feed.json", after=pd.Timestamp("2024-03-01 14:00", tz="UTC"))
    message = str(caught.value)
    assert words in message and message.startswith("feed.json") and "\n" not in message


def test_a_daily_file_replays_on_a_bridge_that_ends_at_each_real_close(tmp_path):
    path = tmp_path / "prices.csv"
    days = pd.bdate_range("2024-01-01", periods=6)
    rows = [(d, s, v) for i, d in enumerate(days) for s, v in (("SPX", 100 + i), ("UST10Y", 4 + 0.01 * i))]
    pd.DataFrame(rows, columns=["date", "symbol", "value"]).to_csv(path, index=False)
    plan = read_replay(path, start=days[2], steps_per_day=5, yields=frozenset({"UST10Y"}))
    assert plan.start_close == days[1] and "Brownian bridge" in plan.synthetic
    assert len(plan.updates) == 4 * 5
    times = [pd.Timestamp(u["time"]) for u in plan.updates]
    last_close = (pd.Timestamp(days[-1]) + pd.Timedelta("21:00:00")).tz_localize("UTC")
    assert times == sorted(times) and times[-1] == last_close
    closes = [u for u in plan.updates if u["close_of"]]
    assert [c["close_of"] for c in closes] == [f"{d:%Y-%m-%d}" for d in days[2:]]
    assert closes[0]["prices"] == {"SPX": 102.0, "UST10Y": 4.02} and closes[0]["next_close"] == f"{days[3]:%Y-%m-%d}"
    assert plan.updates[0]["prepare_close"] == f"{days[2]:%Y-%m-%d}"
    limited = read_replay(path, start=days[2], updates=7, steps_per_day=5)
    assert len(limited.updates) == 7


def test_an_intraday_file_gives_one_update_per_timestamp(tmp_path):
    path = tmp_path / "ticks.csv"
    path.write_text("timestamp,symbol,value\n2024-03-01T14:30:00Z,SPX,5100\n2024-03-01T14:30:00Z,UST10Y,4.2\n"
                    "2024-03-01T14:31:00Z,SPX,5101\n")
    plan = read_replay(path)
    assert [u["prices"] for u in plan.updates] == [{"SPX": 5100.0, "UST10Y": 4.2}, {"SPX": 5101.0}]
    assert plan.synthetic == ""


def test_an_unreadable_replay_row_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("date,symbol,value\n2024-01-02,SPX,1\n2024-01-03,SPX,oops\n")
    with pytest.raises(InputError, match=r"bad.csv row 3"):
        read_replay(path)


def test_the_landing_folder_reads_each_file_once_and_never_changes_it(tmp_path):
    (tmp_path / "a.json").write_text('{"time": "2024-03-01T15:00:00Z", "prices": {"SPX": 1}}')
    (tmp_path / "b.csv").write_text("symbol,value,time\nSPX,2,2024-03-01T15:01:00Z\n")
    (tmp_path / "c.json").write_text("{broken")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    source = LandingFolderSource(tmp_path)
    first = source.poll()
    assert [r.get("prices") for r in first[:2]] == [{"SPX": 1}, {"SPX": 2}]
    assert "c.json" in first[2]["error"]
    assert source.poll() == []
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
