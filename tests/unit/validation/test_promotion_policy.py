"""The promotion policy on the validation report's metrics: a model equivalent to the best baseline passes, a
deliberately worse one fails with the gate naming the figure, the incumbent blocks a worse challenger, and the
gates read the metrics the report shows. Crisis windows: SPX as a one-series book (real bundled data), the
baselines' rolling forecasts; walk-forward coverage: simulated Student-t losses with their exact VaR."""

import base64
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from risk_platform.crisis_windows import CRISIS_WINDOWS
from risk_platform.families import FAMILIES
from risk_platform.models.audit import AuditLog
from risk_platform.models.baselines import series_returns
from risk_platform.models.governance import POLICY_GATES, PromotionPolicy, evaluate_gates
from risk_platform.models.names import VERSION_TAGS
from risk_platform.models.registry import ModelRegistry
from risk_platform.render.formatting import sig4
from risk_platform.validation import crisis
from risk_platform.validation.crisis import WindowValidation
from risk_platform.validation.report import read_windows, summarize_family, write_report
from risk_platform.validation.significance import compare_methods
from risk_platform.validation.var_forecasts import VarForecast, rolling_var
from risk_platform.workflows.promotion import Candidate, WalkForward, decide

LSTM = FAMILIES["lstm_vol"]
QLIKE = {"qlike_lstm": 1.0, "qlike_ewma": 1.1, "qlike_garch_t": 1.2}


@pytest.fixture(scope="module")
def baselines(daily_features) -> dict[str, list[VarForecast]]:
    """Window key -> the baselines' 99% forecasts of SPX losses in that window (data before each day only)."""
    spx = series_returns(daily_features, "SPX")
    spx = spx[spx.index >= "2004-01-01"]
    whole = [rolling_var(spx, "price", m, 0.99, 500) for m in ("hs", "ewma", "fhs")]
    return {w.key: [crisis.in_window(f, w) for f in whole] for w in CRISIS_WINDOWS}


def _validation(family: str, key: str, forecasts: list[VarForecast], **metrics) -> WindowValidation:
    return WindowValidation(key, family, "evaluated", crisis.backtest_rows(forecasts), metrics,
                            crisis.series_rows(forecasts))


def _renamed(f: VarForecast, scale: float, name: str = LSTM.judged_method) -> VarForecast:
    return VarForecast(name, f.alpha, f.dates, f.losses, f.var * scale, f.es * scale)


@pytest.fixture(scope="module")
def best(baselines) -> dict[str, VarForecast]:
    """Window key -> the forecasts of the window's best baseline (lowest tick loss on its days)."""
    out = {}
    for key, forecasts in baselines.items():
        name = compare_methods(forecasts).best_baseline
        out[key] = next(f for f in forecasts if f.method == name)
    return out


def _model_windows(best, scale: float, keys=None) -> list[WindowValidation]:
    """The 'lstm' in each window (default: every one): the window's best baseline times ``scale``."""
    return [_validation("lstm_vol", key, [_renamed(best[key], scale)], **QLIKE) for key in keys or best]


def _walk_forward(scale: float, n: int = 4000) -> list[VarForecast]:
    """Simulated Student-t(5) losses over ``n`` days with the exact VaR at 99% and 97.5% times ``scale``."""
    losses = student_t.rvs(5, size=n, random_state=np.random.default_rng(1))
    dates = pd.bdate_range("2008-01-01", periods=n)
    return [VarForecast(LSTM.judged_method, a, dates, losses, np.full(n, student_t.ppf(a, 5) * scale),
                        np.full(n, np.nan)) for a in (0.99, 0.975)]


def _summary(baselines, best, scale: float, incumbent: list[WindowValidation] | None = None):
    base = [_validation("baselines", key, forecasts) for key, forecasts in baselines.items()]
    return summarize_family("lstm_vol", _model_windows(best, scale), base, LSTM.window_metrics,
                            _walk_forward(scale), incumbent, method=LSTM.judged_method)


def test_a_model_equivalent_to_the_best_baseline_passes(baselines, best):
    summary = _summary(baselines, best, 1.0)
    gates = evaluate_gates(LSTM.gates, summary.metrics, PromotionPolicy())
    assert gates.passed, gates.reason
    assert summary.metrics["windows_compared"] == 7 and summary.metrics["crisis_excess_exceptions_99"] == 0
    assert summary.metrics["crisis_dm_p_worse_99"] == 0.5  # the same tick losses on the pooled crisis days
    assert "pass tick loss not significantly worse than the incumbent current" in gates.reason  # not applicable
    assert "not applicable (has_incumbent = 0)" in gates.reason


def test_a_deliberately_worse_model_fails_naming_the_figure(baselines, best):
    summary = _summary(baselines, best, 0.7)
    checks = evaluate_gates(LSTM.gates, summary.metrics, PromotionPolicy()).checks
    failed = [c for c in checks if c.startswith("FAIL")]
    excess = summary.metrics["crisis_excess_exceptions_99"]
    assert excess > 0 and (f"FAIL in every crisis window at most 0 exceptions at 99% more than the best baseline:"
                           f" crisis_excess_exceptions_99 = {excess:.4g}") in failed
    assert any(c.startswith("FAIL tick loss not significantly worse than the best baseline") for c in failed)
    assert any(c.startswith("FAIL Kupiec bootstrap p at 99% over the walk-forward out-of-sample period above 0.05:"
                            " oos_kupiec_p_boot_99 = ") for c in failed)
    assert summary.metrics["oos_kupiec_p_99"] < 0.05  # the asymptotic figure beside it


def test_the_incumbent_blocks_a_worse_challenger(baselines, best):
    incumbent = _model_windows(best, 1.0)
    same = _summary(baselines, best, 1.0, incumbent).metrics
    assert same["has_incumbent"] == 1 and same["incumbent_excess_exceptions_99"] == 0
    assert same["incumbent_dm_p_worse_99"] == 0.5  # identical forecasts: no evidence either way
    worse = _summary(baselines, best, 0.85, incumbent).metrics
    checks = evaluate_gates(LSTM.gates, worse, PromotionPolicy()).checks
    assert (f"FAIL at most 0 exceptions at 99% more than the incumbent current on the same days:"
            f" incumbent_excess_exceptions_99 = {worse['incumbent_excess_exceptions_99']:.4g}") in checks
    assert worse["incumbent_dm_p_worse_99"] < 0.05


def test_the_gates_read_the_metrics_the_report_shows(baselines, best, tmp_path):
    summary = _summary(baselines, best, 0.7)
    windows = _model_windows(best, 0.7, ["covid_2020"])  # one window's plot is enough here
    gates = evaluate_gates(LSTM.gates, summary.metrics, PromotionPolicy())
    files = write_report(tmp_path, "lstm_vol", "lstm v1", summary, windows, [], gates)
    text = (tmp_path / "report.md").read_text()
    shown = dict(re.findall(r"^\| (\w+) \| ([^|]+) \|$", text.split("## Zones")[0], flags=re.M))
    for gate in (*POLICY_GATES, *LSTM.gates):
        if gate.metric in summary.metrics:
            assert shown[gate.metric] == sig4(summary.metrics[gate.metric]), gate.metric
            assert f"{gate.metric} = {summary.metrics[gate.metric]:.4g}" in gates.reason
    assert "## The model against the baselines on the same days" in text and "in_mcs_90" in text
    assert set(summary.comparisons["period"]) == {w.key for w in CRISIS_WINDOWS} | {"walk_forward"}
    assert read_windows(tmp_path / "windows.json") == windows and tmp_path / "windows.json" in files


def test_the_html_report_is_self_contained_with_rounded_figures(baselines, best, tmp_path):
    """``validation_report.html``: the window plot inline as a base64 PNG (no link to a file beside it), the
    gate table first with the refusal marked, every figure at 4 significant figures."""
    summary = _summary(baselines, best, 0.7)
    windows = _model_windows(best, 0.7, ["covid_2020"])
    gates = evaluate_gates(LSTM.gates, summary.metrics, PromotionPolicy())
    files = write_report(tmp_path, "lstm_vol", "lstm v1", summary, windows, [], gates)
    page = (tmp_path / "validation_report.html").read_text()
    assert tmp_path / "validation_report.html" in files and tmp_path / "covid_2020.png" in files
    [png] = re.findall(r'<img alt="covid_2020" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    assert base64.b64decode(png) == (tmp_path / "covid_2020.png").read_bytes()
    assert "covid_2020.png" not in page and "](" not in page
    assert page.index("<h2>Gates: refused</h2>") < page.index("<h2>Summary</h2>")
    assert '<td class="fail">FAIL</td>' in page and '<td class="pass">pass</td>' in page
    excess = summary.metrics["crisis_excess_exceptions_99"]
    assert f"<td>crisis_excess_exceptions_99</td>\n      <td>{sig4(excess)}</td>" in page
    cells = re.findall(r"<td[^>]*>(-?[0-9][0-9,]*\.[0-9]+)</td>", page)
    assert cells and all(len(c.replace(",", "").replace("-", "").replace(".", "").lstrip("0")) <= 4 for c in cells)


def test_promotion_compares_the_challenger_with_the_stored_incumbent(baselines, best, tmp_path):
    """Two promotions on a real MLflow store: v1 (the best baseline's forecasts) becomes current; v2 (VaR x 0.85)
    is refused, the incumbent's window forecasts read back from v1's validation run (one window: fast)."""
    keys = ["covid_2020"]
    policy = PromotionPolicy(min_windows_compared=len(keys))
    registry = ModelRegistry(f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "artifacts"))
    audit = AuditLog(tmp_path / "audit.jsonl")
    experiment = registry.client.create_experiment("training")
    registry.client.create_registered_model(LSTM.registered_name)
    for _ in range(2):
        run = registry.client.create_run(experiment)
        registry.client.create_model_version(LSTM.registered_name, f"file://{tmp_path}/model", run.info.run_id)
    base = [_validation("baselines", key, baselines[key]) for key in keys]

    def promote(version: str, scale: float):
        decision, _ = decide(LSTM, registry, audit, policy, Candidate(version, {}), _model_windows(best, scale, keys),
                             base, tags={}, actor="test", walk_forward=WalkForward(tuple(_walk_forward(1.0))))
        return decision

    first = promote("1", 1.0)
    assert first.passed and registry.aliases("lstm_vol")["current"] == "1"
    second = promote("2", 0.85)
    assert not second.passed and registry.aliases("lstm_vol")["current"] == "1"
    assert "FAIL at most 0 exceptions at 99% more than the incumbent current" in second.gates
    table = second.gate_result.table()  # for a coloured gate table in the Dagster metadata
    assert list(table.columns[:2]) == ["outcome", "gate"] and "; ".join(second.gate_result.checks) == second.gates
    assert table.loc[table["metric"] == "incumbent_excess_exceptions_99", "outcome"].tolist() == ["FAIL"]
    assert registry.run(second.validation_run_id).data.metrics["has_incumbent"] == 1
    assert registry.run(second.validation_run_id).info.run_name == "validate lstm_vol v2 1 of 7 crisis windows +" \
        " walk-forward"
    assert second.report == f"runs:/{second.validation_run_id}/validation_report/validation_report.html"
    # the refusal is on the version's page: its status tag, the decision section and the gate table
    for decision, status in ((first, "passed"), (second, "refused")):
        version = registry.client.get_model_version(LSTM.registered_name, decision.version)
        assert set(version.tags) <= set(VERSION_TAGS) and not any(k.startswith("validation.") for k in version.tags)
        assert version.tags["validation_status"] == status
        assert version.tags["validation_run_id"] == decision.validation_run_id  # one validation run id
        assert f"## Promotion decision: {status}" in version.description
        experiment = registry.run(decision.validation_run_id).info.experiment_id
        assert (f"(#/experiments/{experiment}/runs/{decision.validation_run_id}/artifacts/validation_report/"
                "validation_report.html?workflowType=machine_learning)") in version.description
    excess = registry.run(second.validation_run_id).data.metrics["incumbent_excess_exceptions_99"]
    assert (f"| FAIL | at most 0 exceptions at 99% more than the incumbent current on the same days |"
            f" incumbent_excess_exceptions_99 | {sig4(excess)} | 0 |") in version.description
    assert "; **alias moves**: none." in version.description
    first_page = registry.client.get_model_version(LSTM.registered_name, "1").description
    assert "; **alias moves**: current: None -> 1." in first_page
    assert second.links["validation_report"].endswith(f"/runs/{second.validation_run_id}/artifacts/"
                                                      "validation_report/validation_report.html"
                                                      "?workflowType=machine_learning")
    assert registry.run(second.validation_run_id).data.tags["mlflow.note.content"].startswith(
        "Validated [risk_platform-lstm_vol v2](#/models/risk_platform-lstm_vol/versions/2"
        "?workflowType=machine_learning): refused.")
