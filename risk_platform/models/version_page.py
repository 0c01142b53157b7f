"""The reviewer's page of a registered model version in MLflow: its Markdown description and its status tag.

The description is rebuilt from what the registry holds each time it is written: what the version is (family,
preset, training window), the data it was trained on (digest, GX validation, git commit), links to its training
run and the Dagster run that trained it, and, once a promotion decided, the decision (passed or refused) with
each gate's figure, threshold and outcome as a table, linked to the validation run, its HTML report and the
Dagster run of the promotion. A refusal is recorded on the version (this section and the tag
``validation_status = refused``), not only in the alias audit log. The training and validation runs' own
descriptions link back to the version. Links inside MLflow are relative UI routes; the Dagster ones absolute
(:func:`~risk_platform.models.mlflow_ui.dagster_run_url`); :func:`version_links` gives the absolute MLflow URLs
for Dagster metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from risk_platform.models.governance import GateResult
from risk_platform.models.mlflow_ui import (
    REPORT_HTML,
    artifact_path,
    dagster_run_url,
    markdown_table,
    mlflow_artifact_url,
    mlflow_model_version_url,
    mlflow_run_url,
    model_version_path,
    run_path,
)
from risk_platform.models.names import VALIDATION_RUN_TAG, VALIDATION_STATUS_TAG, registered_name, training_window_text

if TYPE_CHECKING:
    from risk_platform.models.registry import ModelRegistry

NOTE_TAG = "mlflow.note.content"  # a run's description in the MLflow UI (Markdown)


@dataclass(frozen=True)
class Decision:
    """A promotion decision about one version: its gates, the validation run that logged them, the alias moves
    made (in words, ``none`` when refused)."""

    gates: GateResult
    validation_run_id: str
    moves: str

    @property
    def status(self) -> str:
        """``passed`` or ``refused`` (the version's ``validation_status`` tag)."""
        return "passed" if self.gates.passed else "refused"


def _dagster_link(dagster_run_id: str | None) -> str:
    if not dagster_run_id or dagster_run_id == "unknown":
        return "no Dagster run recorded"
    return f"[Dagster run {dagster_run_id[:8]}]({dagster_run_url(dagster_run_id)})"


def training_section(registry: ModelRegistry, model_key: str, version: str) -> list[str]:
    """What the version is and what it was trained on, from its training run: family, preset, window, data
    digest, GX validation, git commit; links to the training run and the Dagster run."""
    run = registry.run(registry.client.get_model_version(registered_name(model_key), version).run_id)
    params, tags, info = run.data.params, run.data.tags, run.info
    datasets = [d.dataset for d in run.inputs.dataset_inputs] if run.inputs else []
    data = ", ".join(f"`{d.name}` (MLflow digest `{d.digest}`)" for d in datasets) or "not logged"
    return [f"## {registered_name(model_key)} v{version}", "",
            f"**What it is**: the `{model_key}` model family, preset `{params.get('preset', 'not recorded')}`;"
            f" {training_window_text(params)}.", "",
            f"**Data**: {data}; data_sha256 `{tags.get('data_sha256', 'not recorded')}`; GX validation"
            f" `{tags.get('gx_validation_id', 'not recorded')}`; git `{tags.get('git_sha', 'not recorded')}`.", "",
            f"**Links**: [training run {info.run_name}]({run_path(info.experiment_id, info.run_id)}) ·"
            f" {_dagster_link(tags.get('dagster_run_id'))}"]


def decision_section(registry: ModelRegistry, decision: Decision) -> list[str]:
    """The promotion decision: outcome, alias moves, links to the validation run, its report and the Dagster
    run of the promotion, then the gate table."""
    run = registry.run(decision.validation_run_id)
    info, tags = run.info, run.data.tags
    decided = pd.Timestamp(info.start_time, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    return ["", f"## Promotion decision: {decision.status}", "",
            f"**Decided** {decided}; **alias moves**: {decision.moves}.", "",
            f"**Links**: [validation run {info.run_name}]({run_path(info.experiment_id, info.run_id)}) ·"
            f" [validation report]({artifact_path(info.experiment_id, info.run_id, REPORT_HTML)}) ·"
            f" {_dagster_link(tags.get('dagster_run_id'))}", "",
            markdown_table(decision.gates.table())]


def write_version_page(registry: ModelRegistry, model_key: str, version: str,
                       decision: Decision | None = None) -> str:
    """Write the version's description (and, with a ``decision``, its ``validation_status`` tag); returns the
    description."""
    lines = training_section(registry, model_key, version)
    if decision is not None:
        lines += decision_section(registry, decision)
    text = "\n".join(lines) + "\n"
    name = registered_name(model_key)
    registry.client.update_model_version(name, version, description=text)
    page = f"[{name} v{version}]({model_version_path(name, version)})"
    run_id = registry.client.get_model_version(name, version).run_id
    registry.client.set_tag(run_id, NOTE_TAG, f"Trained {page} (its description: data, validation, gates).")
    if decision is not None:
        registry.client.set_model_version_tag(name, version, VALIDATION_STATUS_TAG, decision.status)
        registry.client.set_tag(decision.validation_run_id, NOTE_TAG,
                                f"Validated {page}: {decision.status}. Report: `{REPORT_HTML}` (artifacts below).")
    return text


def version_links(registry: ModelRegistry, model_key: str, version: str) -> dict[str, str]:
    """Absolute MLflow UI URLs of a version (for Dagster metadata, ``MetadataValue.url``): ``mlflow_version``,
    ``mlflow_training_run`` and, once validated, ``mlflow_validation_run`` and ``validation_report``."""
    name = registered_name(model_key)
    found = registry.client.get_model_version(name, version)
    training = registry.run(found.run_id).info
    links = {"mlflow_version": mlflow_model_version_url(name, version),
             "mlflow_training_run": mlflow_run_url(training.experiment_id, training.run_id)}
    if VALIDATION_RUN_TAG in found.tags:
        validation = registry.run(found.tags[VALIDATION_RUN_TAG]).info
        links["mlflow_validation_run"] = mlflow_run_url(validation.experiment_id, validation.run_id)
        links["validation_report"] = mlflow_artifact_url(validation.experiment_id, validation.run_id, REPORT_HTML)
    return links
