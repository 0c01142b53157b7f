"""Forecast guardrails (2x the historical norm), human overrides (append-only), the override command, and
the shadow comparison of experimental vs current."""

import json
import subprocess
from functools import partial

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from risk_platform.errors import InputError
from risk_platform.models.guardrails import (
    NORM_WINDOW_DAYS,
    OverrideLog,
    accept_override,
    accepted_overrides,
    check_forecasts,
    historical_norms,
    limit_inputs,
)
from risk_platform.models.shadow import (
    MonitoringPlan,
    append_shadow_log,
    compare_versions,
    monitoring_plan,
    read_shadow_log,
)

ASOF = "2021-06-30"
accept = partial(accept_override, known_models=("lstm_vol", "gnn_corr"))


def _daily(vols: dict[str, list[tuple[int, float]]], end: str = ASOF) -> pd.DataFrame:
    """A feature table with ``ewma_vol`` given as (days, value) pieces per series, ending on ``end``."""
    frames = []
    for symbol, pieces in vols.items():
        values = np.concatenate([np.full(n, v) for n, v in pieces])
        dates = pd.bdate_range(end=end, periods=len(values))
        frames.append(pd.DataFrame({"date": dates, "symbol": symbol, "ewma_vol": values}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def daily():
    return _daily({
        "AAA": [(300, 0.05), (NORM_WINDOW_DAYS, 0.01)],  # older, calmer-than-crisis history outside the window
        "BBB": [(600, 0.02)],
        "CCC": [(200, 4.0), (400, 6.0)],  # median of 4 and 6 bp vols -> 36 bp^2 (the median, not the mean)
        "DDD": [(100, 0.01)],  # too short for a norm
    })


def test_norm_is_the_trailing_median_of_ewma_variance(daily):
    norms = historical_norms(daily, ASOF)
    assert_allclose(norms.loc[["AAA", "BBB", "CCC"], "norm"], [1e-4, 4e-4, 36.0])
    assert np.isnan(norms.loc["DDD", "norm"]) and norms.loc["DDD", "n_obs"] == 100


def test_flags_exactly_the_series_above_twice_the_norm(daily):
    forecast = pd.Series({"AAA": 2.5e-4, "BBB": 7.9e-4, "CCC": 72.0, "DDD": 1e-4, "EEE": 1.0})
    result = check_forecasts(forecast, daily, ASOF, model="lstm_vol", version="3")
    table = result.table
    assert_allclose(table.loc[["AAA", "BBB", "CCC"], "ratio"], [2.5, 1.975, 2.0])
    assert result.flagged == ["AAA", "DDD", "EEE"]  # CCC at exactly 2x is not above
    assert table.loc["AAA", "status"] == "above_norm" and table.loc["DDD", "status"] == "no_norm"
    assert table.loc["EEE", "status"] == "no_norm"  # a series without history cannot be checked
    bad = check_forecasts(pd.Series({"AAA": np.nan, "BBB": -1.0}), daily, ASOF)
    assert list(bad.table["status"]) == ["invalid", "invalid"]
    assert "AAA: above_norm" in result.summary()
    json.dumps(result.to_dict())


def test_norm_is_point_in_time(daily):
    future = _daily({"AAA": [(250, 1.0)], "BBB": [(250, 1.0)]}, end="2022-06-30")
    future = future[future["date"] > ASOF]
    with_future = pd.concat([daily, future], ignore_index=True)
    forecast = pd.Series({"AAA": 2.5e-4, "BBB": 7.9e-4})
    assert_allclose(check_forecasts(forecast, with_future, ASOF).table["norm"],
                    check_forecasts(forecast, daily, ASOF).table["norm"])
    later = historical_norms(with_future, "2022-06-30", ["AAA"])
    assert later.loc["AAA", "norm"] == 1e-4 and later.loc["AAA", "last_date"] == "2022-06-30"
    assert historical_norms(with_future, "2022-06-30", ["BBB"]).loc["BBB", "norm"] == pytest.approx(1e-4 * 4)


def test_flagged_forecast_feeds_limits_only_after_an_override(daily, tmp_path):
    result = check_forecasts(pd.Series({"AAA": 2.5e-4, "BBB": 3e-4}), daily, ASOF, model="lstm_vol", version="3")
    log = OverrideLog(tmp_path / "overrides.jsonl")
    before = limit_inputs(result, accepted_overrides(log, model="lstm_vol", version="3", asof=ASOF))
    assert before.variance == {"BBB": 3e-4} and before.excluded == ["AAA"]
    assert before.baseline == {"AAA": pytest.approx(1e-4)}
    # an override for another version or day does not count
    accept(log, model="lstm_vol", version="2", series="AAA", asof=ASOF, accepted_by="Jane Doe",
                    reason="old version")
    accept(log, model="lstm_vol", version="3", series="AAA", asof="2021-06-29", accepted_by="Jane Doe",
                    reason="wrong day")
    assert limit_inputs(result, accepted_overrides(log, model="lstm_vol", version="3", asof=ASOF)).excluded == ["AAA"]
    accept(log, model="lstm_vol", version="3", series="AAA", asof=ASOF, accepted_by="Jane Doe",
                    reason="vol spike confirmed by EWMA and GARCH", ratio=2.5)
    after = limit_inputs(result, accepted_overrides(log, model="lstm_vol", version="3", asof=ASOF))
    assert after.variance == {"AAA": 2.5e-4, "BBB": 3e-4} and after.excluded == []
    assert after.overridden == {"AAA": "Jane Doe"}


def test_override_log_is_append_only_and_needs_a_named_human(tmp_path):
    log = OverrideLog(tmp_path / "overrides.jsonl")
    first = accept(log, model="lstm_vol", version="3", series="SPX", asof=ASOF, accepted_by="Jane Doe",
                            reason="checked", ratio=2.4)
    text = log.path.read_text()
    accept(log, model="lstm_vol", version="3", series="UST10Y", asof=ASOF, accepted_by="John Roe",
                    reason="checked")
    assert log.path.read_text().startswith(text)
    assert [r.series for r in log.records()] == ["SPX", "UST10Y"] and log.records()[0] == first
    assert set(json.loads(text)) == {"time", "model", "version", "series", "asof", "ratio", "accepted_by", "reason"}
    for kwargs, message in [({"accepted_by": "sensor"}, "named human"), ({"accepted_by": " "}, "named human"),
                            ({"reason": ""}, "reason"), ({"model": "lstm"}, "unknown model"),
                            ({"asof": "2021-02-30"}, "not a date")]:
        args = {"model": "lstm_vol", "version": "3", "series": "SPX", "asof": ASOF, "accepted_by": "Jane Doe",
                "reason": "r", **kwargs}
        with pytest.raises(InputError, match=message):
            accept(log, **args)
    assert len(log.records()) == 2


def _cli(capsys, *args):
    """The command line in-process (the subprocess path of every command is covered by tests/unit/test_reliability)."""
    from risk_platform.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)


def test_override_command(tmp_path, capsys):
    log = tmp_path / "overrides.jsonl"
    base = ["override", "--model", "lstm_vol", "--version", "3", "--series", "SPX", "--by", "Jane Doe",
            "--reason", "confirmed", "--log", str(log)]
    done = _cli(capsys, *base, "--asof", "2021-06-30", "--ratio", "2.4", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["accepted_by"] == "Jane Doe" and out["asof"] == "2021-06-30" and out["ratio"] == 2.4
    assert len(OverrideLog(log).records()) == 1
    with pytest.raises(SystemExit) as exit_code:  # argparse: a bad date is a usage error
        _cli(capsys, *base, "--asof", "2021-13-01")
    bad = subprocess.CompletedProcess([], exit_code.value.code, "", capsys.readouterr().err)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert len(OverrideLog(log).records()) == 1


def test_shadow_comparison_and_log(tmp_path):
    current = {"SPX": 1e-4, "UST10Y": 25.0, "GOLD": 4e-5}
    experimental = {"SPX": 2e-4, "UST10Y": 20.0, "WTI": 9e-4}
    realized = {"SPX": 2e-4, "UST10Y": 0.0}
    comparison = compare_versions(current, experimental, realized, asof=ASOF, model="lstm_vol",
                                  current_version="3", experimental_version="4")
    table = comparison.table
    assert list(table.index) == ["GOLD", "SPX", "UST10Y", "WTI"]
    assert_allclose(table.loc["SPX", ["ratio", "qlike_current", "qlike_experimental"]].astype(float),
                    [2.0, 2 - np.log(2) - 1, 0.0], atol=1e-12)
    assert table.loc["SPX", "better"] == "experimental"
    assert np.isnan(table.loc["UST10Y", "qlike_current"])  # zero proxy: QLIKE undefined
    assert np.isnan(table.loc["GOLD", "experimental"]) and np.isnan(table.loc["WTI", "ratio"])
    assert comparison.mean_qlike()["n"] == 1
    assert "experimental better on 1" in comparison.summary()
    path = tmp_path / "shadow.jsonl"
    append_shadow_log(path, compare_versions(current, experimental, asof=ASOF, model="lstm_vol",
                                             current_version="3", experimental_version="4"), run_id="r1")
    first = path.read_text()
    append_shadow_log(path, comparison, run_id="r2")
    assert path.read_text().startswith(first) and len(path.read_text().splitlines()) == 2
    history = read_shadow_log(path)
    assert len(history) == 4  # the scored line replaces the unscored one of the same day
    assert history.set_index("series").loc["SPX", "qlike_experimental"] == 0.0


def test_monitoring_plan_watches_production_and_shadows_a_different_challenger():
    assert monitoring_plan({}) is None
    assert monitoring_plan({"stable": "1"}) is None
    assert monitoring_plan({"experimental": "3"}) == MonitoringPlan("experimental", shadow=False)
    assert monitoring_plan({"current": "2"}) == MonitoringPlan("current", shadow=False)
    assert monitoring_plan({"current": "2", "experimental": "2"}) == MonitoringPlan("current", shadow=False)
    assert monitoring_plan({"current": "2", "experimental": "3", "stable": "1"}) == MonitoringPlan("current", True)
