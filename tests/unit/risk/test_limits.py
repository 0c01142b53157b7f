"""Risk limits: loading with one-line errors, evaluation against hand-computed figures."""

import math

import pytest

from risk_platform.errors import InputError
from risk_platform.paths import BUNDLED_LIMITS
from risk_platform.risk.limits import (
    FAMILIES,
    evaluate_limits,
    family_outcome,
    load_limits,
    parse_limits,
)

LIMITS_YAML = """
version: 1
alert_on: [breach]
limits:
  - {name: var99, family: var, metric: var_99, scale: pct_nav, warn: 1.5, breach: 2.0, severity: error}
  - {name: var95, family: var, metric: var_95, scale: pct_nav, warn: 1.1, breach: 1.4, severity: warn}
  - {name: es99, family: es, metric: es_99, scale: pct_nav, warn: 2.0, breach: 2.5, severity: error}
  - {name: largest, family: concentration, metric: largest_position_pct, warn: 27.5, breach: 30, severity: error}
  - {name: hhi, family: concentration, metric: herfindahl_index, warn: 0.12, breach: 0.18, severity: warn}
  - {name: dtl, family: liquidity, metric: days_to_liquidate_portfolio, warn: 2, breach: 5, severity: error}
  - {name: liq_score, family: liquidity, metric: liquidity_score, direction: below, warn: 0.6, breach: 0.4}
  - {name: regime, family: regime, metric: current_regime, warn_values: [high], severity: warn}
  - {name: regime_p, family: regime, metric: regime_probability.high, warn: 0.5, breach: 0.8, severity: warn}
"""

# NAV 100m: VaR99 1.8m = 1.8% (warn), VaR95 1.0m = 1.0% (ok), ES99 2.6m = 2.6% (breach, error), largest 24%
# (ok), HHI 0.20 (breach, severity warn), no days to liquidate (not evaluated), liquidity score 0.5 (floor:
# warn), regime high (warn), P(high) 0.9 (breach, severity warn)
REPORT = {
    "portfolio": "Test book", "asof": "2024-12-31", "nav": 100e6,
    "var_99": 1.8e6, "var_95": 1.0e6, "es_99": 2.6e6, "largest_position_pct": 24.0, "herfindahl_index": 0.20,
    "liquidity_score": 0.5, "current_regime": "High", "regime_probability": {"low": 0.02, "normal": 0.08, "high": 0.9},
    "bound_by": {"var_99": "historical_simulation(500d)", "es_99": {"lstm_vol": "3", "gnn_corr": "2"}},
}


@pytest.fixture
def limits(tmp_path):
    path = tmp_path / "limits.yaml"
    path.write_text(LIMITS_YAML)
    return load_limits(path)


def by_name(results):
    return {r.limit: r for r in results}


def test_every_limit_is_evaluated_against_hand_values(limits):
    r = by_name(evaluate_limits(REPORT, limits))
    assert (r["var99"].status, r["var99"].severity, r["var99"].threshold) == ("warn", "warn", 1.5)
    assert math.isclose(r["var99"].figure, 1.8) and math.isclose(r["var99"].utilisation, 1.8 / 1.5)
    assert r["var99"].bound_by == "historical_simulation(500d)" and r["var99"].unit == "% of NAV"
    assert (r["var95"].status, r["var95"].severity, r["var95"].threshold) == ("ok", None, 1.4)
    assert math.isclose(r["var95"].utilisation, 1.0 / 1.4)
    assert (r["es99"].status, r["es99"].severity, r["es99"].threshold) == ("breach", "error", 2.5)
    assert math.isclose(r["es99"].utilisation, 2.6 / 2.5)
    assert r["es99"].bound_by == {"lstm_vol": "3", "gnn_corr": "2"}
    assert (r["largest"].status, r["largest"].figure, r["largest"].utilisation) == ("ok", 24.0, 0.8)
    assert (r["hhi"].status, r["hhi"].severity, r["hhi"].threshold) == ("breach", "warn", 0.18)
    assert r["dtl"].status == "not_evaluated" and r["dtl"].figure is None and r["dtl"].utilisation is None
    assert "days_to_liquidate_portfolio not in the risk report" in r["dtl"].message
    assert (r["liq_score"].status, r["liq_score"].threshold) == ("warn", 0.6)  # a floor: 0.5 < 0.6
    assert math.isclose(r["liq_score"].utilisation, 0.6 / 0.5)
    assert (r["regime"].status, r["regime"].figure, r["regime"].threshold) == ("warn", "High", ["high"])
    assert r["regime"].utilisation is None
    assert (r["regime_p"].status, r["regime_p"].severity, r["regime_p"].figure) == ("breach", "warn", 0.9)


def test_families_fail_with_the_severity_of_their_worst_limit(limits):
    results = evaluate_limits(REPORT, limits)
    outcomes = {f: family_outcome(f, results) for f in FAMILIES}
    assert (outcomes["var"].passed, outcomes["var"].severity) == (False, "warn")
    assert (outcomes["es"].passed, outcomes["es"].severity) == (False, "error")
    assert (outcomes["concentration"].passed, outcomes["concentration"].severity) == (False, "warn")
    assert (outcomes["liquidity"].passed, outcomes["liquidity"].severity) == (False, "warn")
    assert (outcomes["regime"].passed, outcomes["regime"].severity) == (False, "warn")
    calm = {**REPORT, "var_99": 1.0e6, "es_99": 1.2e6, "herfindahl_index": 0.05, "liquidity_score": 0.9,
            "current_regime": "normal", "regime_probability": {"high": 0.1}}
    assert all(family_outcome(f, evaluate_limits(calm, limits)).passed for f in FAMILIES)
    # not evaluated is reported, never counted as ok
    assert "not evaluated" in family_outcome("liquidity", evaluate_limits(calm, limits)).summary


def test_missing_nav_or_non_finite_figure_is_not_evaluated(limits):
    r = by_name(evaluate_limits({**REPORT, "nav": 0.0, "herfindahl_index": float("nan")}, limits))
    assert r["var99"].status == "not_evaluated" and "NAV" in r["var99"].message
    assert r["hhi"].status == "not_evaluated" and "not a finite number" in r["hhi"].message
    assert r["largest"].status == "ok"


def test_bundled_limits_load_and_cover_every_family():
    limits = load_limits()
    assert limits.source == str(BUNDLED_LIMITS)
    assert {lim.family for lim in limits.limits} == set(FAMILIES)
    metrics = {lim.metric for lim in limits.limits}
    assert {"var_99", "es_99", "largest_position_pct", "herfindahl_index", "days_to_liquidate_portfolio",
            "current_regime"} <= metrics
    # the sample book on 2024-12-31 (VaR99 1.14%, ES99 1.43% of NAV, largest 24%, HHI 0.086) is within limits
    sample = {"nav": 500e6, "var_99": 5.71e6, "var_95": 3.82e6, "es_99": 7.14e6, "largest_position_pct": 24.0,
              "herfindahl_index": 0.0865}
    assert {r.status for r in evaluate_limits(sample, limits)} == {"ok", "not_evaluated"}


BAD = [
    ("limits: []", "limits: must be a non-empty list"),
    ("limits:\n  - {name: a, family: bogus, metric: var_99, breach: 1}", "limits[0] (a).family: must be one of"),
    ("limits:\n  - {name: a, family: var, metric: var_99, breach: abc}", "limits[0] (a).breach: must be a finite"),
    ("limits:\n  - {name: a, family: var, metric: var_99, warn: 3, breach: 2}", "limits[0] (a).warn: warn 3 must"
     " be <= breach 2"),
    ("limits:\n  - {name: a, family: var, metric: var_99, treshold: 2}", "limits[0] (a).treshold: unknown key"),
    ("limits:\n  - {name: a, family: var, metric: var_99}", "limits[0] (a): needs a warn or breach"),
    ("limits:\n  - {name: a, family: var, metric: var_99, breach: 1, severity: fatal}",
     "limits[0] (a).severity: must be one of warn, error"),
    ("limits:\n  - {name: a, family: var, metric: var_99, breach: 1}\n  - {name: a, family: es, metric: es_99,"
     " breach: 1}", "limits[1] (a).name: duplicate limit name"),
    ("limits:\n  - {family: var, metric: var_99, breach: 1}", "limits[0].name: missing or empty"),
    ("limits:\n  - {name: a, family: regime, metric: current_regime, warn_values: high}",
     "limits[0] (a).warn_values: must be a list"),
    ("limits:\n  - {name: a, family: var, metric: var_99, breach: 1}\nalert_on: [always]", "alert_on: must be one"),
    ("version: 2\nlimits:\n  - {name: a, family: var, metric: var_99, breach: 1}", "version: unsupported version"),
    ("limits: [a, b", "line 1: not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_limits_files_give_one_line_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad_limits.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_limits(path)
    assert str(err.value).startswith(f"{path}") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_limits_file(tmp_path):
    with pytest.raises(InputError, match="limits file not found"):
        load_limits(tmp_path / "nope.yaml")


def test_parse_limits_defaults():
    limits = parse_limits({"limits": [{"name": "v", "family": "var", "metric": "var_99", "breach": 1e6}]})
    (limit,) = limits.limits
    assert (limit.severity, limit.scale, limit.direction, limit.warn) == ("error", "absolute", "above", None)
    assert limits.alert_on == ("breach",)
    (result,) = evaluate_limits({"var_99": 2e6}, limits)
    assert (result.status, result.threshold, result.utilisation, result.bound_by) == ("breach", 1e6, 2.0, None)
