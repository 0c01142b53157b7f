"""The monitor's anomaly detector on synthetic series, and the daily metric history of the bundled sample book."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from risk_platform import paths
from risk_platform.errors import InputError
from risk_platform.monitor.anomaly import AnomalyDetector
from risk_platform.monitor.metric_history import METRICS, book_metric_history, bundled_market_inputs, market_state
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.risk.methods import historical_method

DAYS = pd.bdate_range("2021-01-04", periods=400)


def noisy_level(n: int, seed: int, sd: float = 0.01, level: float = 1e6) -> np.ndarray:
    """A stationary positive series: ``level`` times lognormal noise (seeded)."""
    return level * np.exp(np.random.default_rng(seed).normal(0.0, sd, n))


def run(detector: AnomalyDetector, values: np.ndarray, metric: str = "var_99", days=DAYS) -> list[int]:
    """The observation indices at which ``detector`` alarmed."""
    return [i for i, v in enumerate(values) if detector.observe({metric: v}, days[i])]


def test_level_shift_alarms_at_the_shift_only():
    for seed in range(5):
        values = noisy_level(300, seed)
        values[200:] *= 1.3
        assert run(AnomalyDetector(("var_99",), k=5.0, min_sigma=0.0), values) == [200], seed


def test_an_alarm_carries_its_band_score_and_a_message_with_units():
    values = noisy_level(60, 1)
    values[50] *= 1.5
    detector = AnomalyDetector(("var_99",), k=5.0)
    anomalies = [a for i, v in enumerate(values) for a in detector.observe({"var_99": v}, DAYS[i])]
    assert len(anomalies) == 1
    a = anomalies[0]
    assert a.metric == "var_99" and a.value == pytest.approx(values[50]) and a.low < values[49] < a.high < a.value
    assert a.score > 5 and a.time == pd.Timestamp(DAYS[50], tz="UTC")
    record = a.to_dict()
    assert set(record) == {"metric", "value", "low", "high", "time", "score", "message"}
    assert record["time"].startswith(f"{DAYS[50]:%Y-%m-%d}T00:00:00") and record["time"].endswith("+00:00")
    assert "USD" in a.message and "above" in a.message
    json.dumps(record)


def test_warm_up_is_silent_then_the_same_jump_alarms():
    values = noisy_level(60, 2)
    values[10:] *= 2.0  # a doubling on the 10th change: inside the 20-change warm-up
    assert run(AnomalyDetector(("var_99",), warmup=20), values) == []
    values = noisy_level(60, 2)
    values[30:] *= 2.0
    assert run(AnomalyDetector(("var_99",), warmup=20), values) == [30]


def test_cool_down_one_alarm_for_a_shock_over_consecutive_updates():
    values = noisy_level(80, 3)
    values[40:] *= 1.4
    values[41:] *= 1.4  # the same shock, moving the figure over two updates
    assert run(AnomalyDetector(("var_99",), k=5.0, cooldown=5), values) == [40]
    assert run(AnomalyDetector(("var_99",), k=5.0, cooldown=0), values) == [40, 41]
    values[44:] *= 1.4  # a new shock after the cool-down alarms again
    assert run(AnomalyDetector(("var_99",), k=5.0, cooldown=2), values) == [40, 44]


def test_nan_missing_and_non_positive_values_are_skipped():
    values = noisy_level(60, 4)
    detector = AnomalyDetector(("var_99", "es_99"), k=5.0)
    for i in range(40):
        detector.observe({"var_99": values[i], "es_99": values[i]}, DAYS[i])
    before = detector.state()["bands"]
    for i, bad in enumerate([float("nan"), None, float("inf"), -1.0, 0.0, "x"]):
        assert detector.observe({"var_99": bad}, DAYS[40 + i]) == []  # es_99 missing: skipped too
    assert detector.state()["bands"] == before
    # the next change is measured from the last value seen, so an ordinary value does not alarm
    assert detector.observe({"var_99": values[39] * 1.001, "es_99": values[39]}, DAYS[50]) == []
    assert detector.observe({"var_99": values[39] * 3, "es_99": values[39]}, DAYS[51])[0].metric == "var_99"


def test_state_round_trip_resumes_with_identical_alarms():
    rng = np.random.default_rng(5)
    series = {m: noisy_level(400, 10 + j, sd=0.02) for j, m in enumerate(METRICS)}
    for v in series.values():
        v[rng.integers(200, 400, 6)] *= 1.5
        v[150:] *= 1.5
        v[152:] *= 1.5  # in the cool-down of the shock at 150 when the detector restarts (at 151)
    detector = AnomalyDetector()
    records = [{m: series[m][i] for m in METRICS} for i in range(400)]
    for i in range(151):
        detector.observe(records[i], DAYS[i])
    restored = AnomalyDetector.from_state(json.loads(json.dumps(detector.state())))
    assert restored.state() == detector.state()
    original = [[a.to_dict() for a in detector.observe(records[i], DAYS[i])] for i in range(151, 400)]
    resumed = [[a.to_dict() for a in restored.observe(records[i], DAYS[i])] for i in range(151, 400)]
    assert resumed == original and sum(map(len, original)) > 0
    assert original[152 - 151] == []  # still cooling down after the restart
    assert restored.observe({"var_99": 1.0}, DAYS[10]) == []  # a replayed, earlier update is ignored


def test_bad_settings_and_bad_state_are_input_errors():
    with pytest.raises(InputError, match="invalid settings"):
        AnomalyDetector(k=0)
    with pytest.raises(InputError, match="version"):
        AnomalyDetector.from_state({"k": 3})
    state = AnomalyDetector().state()
    del state["bands"]["es_99"]
    with pytest.raises(InputError, match="es_99"):
        AnomalyDetector.from_state(state)
    with pytest.raises(InputError, match="unreadable time"):
        AnomalyDetector().observe({"var_99": 1.0}, "not a time")


def test_observe_is_well_under_a_millisecond():
    detector = AnomalyDetector()
    values = noisy_level(2000, 6)
    times = pd.date_range("2024-01-01", periods=2000, freq="min", tz="UTC")
    start = time.perf_counter()
    for v, t in zip(values, times, strict=True):
        detector.observe({"var_99": v, "es_99": v, "portfolio_volatility": v, "diversification_ratio": 2.0}, t)
    assert (time.perf_counter() - start) / 2000 < 0.5e-3


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    inputs = bundled_market_inputs()
    return book_metric_history(load_portfolio(paths.SAMPLE_PORTFOLIO, inputs.instruments), market_state(inputs))


def test_metric_history_of_the_sample_book(history):
    assert list(history.columns) == ["pnl", *METRICS]
    assert history.index.is_monotonic_increasing and history.index.is_unique
    assert history.index[0].year == 2000 and history.index[-1] == pd.Timestamp("2024-12-31")
    assert len(history) > 6000 and history.index.dayofweek.max() <= 4
    ready = history.iloc[499:]  # HS needs 500 days; EWMA 20
    assert np.isfinite(ready.to_numpy()).all() and history["var_99"].iloc[:499].isna().all()
    assert (ready[["var_99", "es_99", "portfolio_volatility"]] > 0).all().all()
    assert (ready["es_99"] >= ready["var_99"]).all()
    assert (ready["diversification_ratio"] >= 1 - 1e-9).all() and ready["diversification_ratio"].median() > 1.2
    assert history.loc["2008-10", "var_99"].mean() > 1.5 * history.loc["2006", "var_99"].mean()
    vol = history["portfolio_volatility"]
    assert vol.loc["2008-10"].mean() > 2 * vol.loc["2006"].mean()
    last = historical_method(history["pnl"].to_numpy()[-500:])  # the engine's HS on the last 500 days
    assert history["var_99"].iloc[-1] == pytest.approx(last.var_99, rel=1e-12)
    assert history["es_99"].iloc[-1] == pytest.approx(last.es_99, rel=1e-12)
    mid = historical_method(history.loc[:"2008-10-31", "pnl"].to_numpy()[-500:])
    assert history.at[pd.Timestamp("2008-10-31"), "es_99"] == pytest.approx(mid.es_99, rel=1e-12)
