"""Where a reviewer finds things in the MLflow and Dagster UIs, and how figures and tables are shown there
(:func:`sig4`: 4 significant figures; :func:`markdown_table`, :func:`html_table`).

Paths inside the MLflow UI are relative hash routes (``#/experiments/<id>/runs/<run_id>``): a link in a model
version's description opens them in the same UI whatever its address. Absolute URLs (for Dagster metadata
``MetadataValue.url``, or for the Dagster run linked from MLflow) take their base from an environment variable read
at call time: ``MLFLOW_UI_URL`` (default ``http://127.0.0.1:5000``), ``DAGSTER_WEBSERVER_URL`` (default
``http://127.0.0.1:3000``).
"""

from __future__ import annotations

import math
import os
from numbers import Integral, Real
from urllib.parse import quote

import pandas as pd

from risk_platform.render.formatting import sig4

REPORT_DIR = "validation_report"  # a validation run's artifact folder
REPORT_HTML_FILE = "validation_report.html"  # in it, the self-contained report a reviewer opens
REPORT_HTML = f"{REPORT_DIR}/{REPORT_HTML_FILE}"
MLFLOW_UI_ENV, MLFLOW_UI_DEFAULT = "MLFLOW_UI_URL", "http://127.0.0.1:5000"
DAGSTER_UI_ENV, DAGSTER_UI_DEFAULT = "DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3000"


def _base(env: str, default: str) -> str:
    return (os.environ.get(env) or default).rstrip("/")


# MLflow 3.17's UI picks its layout from a sidebar toggle kept in the browser (GenAI by default, whatever the
# experiment's kind: mlflow/mlflow#24498); the route's ``workflowType`` parameter selects the classic one.
CLASSIC_LAYOUT = "?workflowType=machine_learning"


def run_path(experiment_id: str, run_id: str) -> str:
    """The MLflow UI route of a run in the classic layout: ``#/experiments/<id>/runs/<run_id>?workflowType=...``."""
    return f"#/experiments/{experiment_id}/runs/{run_id}{CLASSIC_LAYOUT}"


def artifact_path(experiment_id: str, run_id: str, artifact: str) -> str:
    """The MLflow UI route of one artifact of a run (the run page with the file open)."""
    return f"#/experiments/{experiment_id}/runs/{run_id}/artifacts/{artifact}{CLASSIC_LAYOUT}"


def model_version_path(name: str, version: str) -> str:
    """The MLflow UI route of a registered model version: ``#/models/<name>/versions/<version>?workflowType=...``."""
    return f"#/models/{quote(name, safe='')}/versions/{version}{CLASSIC_LAYOUT}"


def mlflow_url(path: str) -> str:
    """The absolute URL of an MLflow UI route (``MLFLOW_UI_URL``, read now, default ``http://127.0.0.1:5000``)."""
    return f"{_base(MLFLOW_UI_ENV, MLFLOW_UI_DEFAULT)}/{path}"


def mlflow_run_url(experiment_id: str, run_id: str) -> str:
    """The MLflow UI URL of a run (for Dagster metadata)."""
    return mlflow_url(run_path(experiment_id, run_id))


def mlflow_model_version_url(name: str, version: str) -> str:
    """The MLflow UI URL of a registered model version (for Dagster metadata)."""
    return mlflow_url(model_version_path(name, version))


def mlflow_artifact_url(experiment_id: str, run_id: str, artifact: str) -> str:
    """The MLflow UI URL of a run's artifact, e.g. ``validation_report/validation_report.html``."""
    return mlflow_url(artifact_path(experiment_id, run_id, artifact))


def dagster_run_url(dagster_run_id: str) -> str:
    """The Dagster UI URL of a run: ``<DAGSTER_WEBSERVER_URL>/runs/<id>`` (base read now, default
    ``http://127.0.0.1:3000``)."""
    return f"{_base(DAGSTER_UI_ENV, DAGSTER_UI_DEFAULT)}/runs/{dagster_run_id}"


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, Real) and not isinstance(value, Integral):  # bool and numpy integers are Integral
        return sig4(float(value))
    return str(value)


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as text: every non-integer number at 4 significant figures (:func:`sig4`), missing as ``n/a``."""
    return table.astype(object).map(_cell) if len(table.columns) else table


def markdown_table(table: pd.DataFrame) -> str:
    """A Markdown table of :func:`shown` cells (``|`` escaped, one line per row); ``(none)`` when empty."""
    if table.empty:
        return "(none)"
    text = shown(table)
    rows = [[str(c) for c in text.columns], *text.itertuples(index=False)]
    lines = ["| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ") for v in row) + " |" for row in rows]
    return "\n".join([lines[0], "|" + "---|" * len(text.columns), *lines[1:]])


def html_table(table: pd.DataFrame) -> str:
    """An HTML table of :func:`shown` cells (escaped); a ``FAIL`` cell carries the class ``fail``, a ``pass``
    cell ``pass``, a ``red``/``yellow``/``green`` zone its colour's class."""
    if table.empty:
        return "<p>(none)</p>"
    text = shown(table).to_html(index=False, border=0, classes="table")
    for word in ("FAIL", "pass", "red", "yellow", "green"):
        text = text.replace(f"<td>{word}</td>", f'<td class="{word.lower()}">{word}</td>')
    return text
