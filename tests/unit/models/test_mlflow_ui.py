"""The links between the Dagster and MLflow UIs (bases read when called) and figures as a reviewer reads them."""

import math

import numpy as np
import pandas as pd
import pytest

from risk_platform.models.mlflow_ui import (
    dagster_run_url,
    markdown_table,
    mlflow_artifact_url,
    mlflow_model_version_url,
    mlflow_run_url,
    sig4,
)


@pytest.mark.parametrize(("value", "text"), [
    (0.012345, "0.01235"), (1234567.0, "1,235,000"), (6190471.3, "6,190,000"), (1.5, "1.5"), (7.0, "7"),
    (0.0, "0"), (-0.99, "-0.99"), (0.975, "0.975"), (123.456, "123.5"), (1e-7, "1e-07"), (float("nan"), "n/a"),
    (None, "n/a"), (math.inf, "n/a")])
def test_figures_are_shown_at_four_significant_figures(value, text):
    assert sig4(value) == text


def test_urls_read_their_base_when_called(monkeypatch):
    monkeypatch.delenv("MLFLOW_UI_URL", raising=False)
    monkeypatch.delenv("DAGSTER_WEBSERVER_URL", raising=False)
    assert dagster_run_url("abc-123") == "http://127.0.0.1:3000/runs/abc-123"
    assert mlflow_run_url("4", "r1") == "http://127.0.0.1:5000/#/experiments/4/runs/r1?workflowType=machine_learning"
    monkeypatch.setenv("MLFLOW_UI_URL", "https://mlflow.internal/")
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "https://dagster.internal")
    assert dagster_run_url("abc-123") == "https://dagster.internal/runs/abc-123"
    assert mlflow_model_version_url("risk_platform-lstm_vol", "3") == (
        "https://mlflow.internal/#/models/risk_platform-lstm_vol/versions/3?workflowType=machine_learning")
    assert mlflow_artifact_url("4", "r1", "validation_report/validation_report.html") == (
        "https://mlflow.internal/#/experiments/4/runs/r1/artifacts/validation_report/validation_report.html"
        "?workflowType=machine_learning")


def test_tables_round_floats_keep_integers_and_escape_pipes():
    table = pd.DataFrame({"n": np.array([12345, 7]), "p": [0.0123456, np.nan], "gate": ["a|b", "FAIL"]})
    assert markdown_table(table).splitlines() == ["| n | p | gate |", "|---|---|---|", "| 12345 | 0.01235 | a\\|b |",
                                                  "| 7 | n/a | FAIL |"]
    assert markdown_table(table.iloc[0:0]) == "(none)"
