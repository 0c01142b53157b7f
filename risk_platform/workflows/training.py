"""One training run of a model family: train with the preset's config, log the family's registration to
MLflow as a new registered version, and point ``experimental`` at it through the audited governance path."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from risk_platform.families import ModelFamily
from risk_platform.models.audit import AuditLog
from risk_platform.models.governance import move_alias
from risk_platform.models.version_page import version_links, write_version_page

if TYPE_CHECKING:
    from risk_platform.models.registry import ModelRegistry, RegisteredVersion

NEW_VERSION_ALIAS = "experimental"


@dataclass(frozen=True, eq=False)
class TrainedVersion:
    """A registered version of a family, the metrics its run logged and the tables shown beside it."""

    family: str
    version: RegisteredVersion
    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame]
    links: dict[str, str]  # the version's MLflow UI URLs (:func:`~risk_platform.models.version_page.version_links`)
    charts: dict[str, bytes] = field(default_factory=dict)  # the run's PNG plots by file name (shown in the UI)

    def to_dict(self) -> dict:
        """What the training asset returns (downstream assets read the version and the metrics)."""
        return {"model_uri": self.version.model_uri, "version": self.version.version, "run_id": self.version.run_id,
                "metrics": self.metrics}


def train_and_register(family: ModelFamily, registry: ModelRegistry, audit: AuditLog, daily: pd.DataFrame,
                       instruments: pd.DataFrame, *, preset: str, fast_dev_run: bool, tags: dict[str, str],
                       dataset_name: str, actor: str) -> TrainedVersion:
    """Train ``family`` on ``daily``, register the version with lineage ``tags`` and the training data logged as
    ``dataset_name``, move ``experimental`` to it (audited; a training run is no validation run), then describe
    it on its MLflow page. A failed training registers nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        registration = family.fit(daily, instruments, preset, fast_dev_run, Path(tmp))
        version = registry.log_training(model_key=family.key, registration=registration, tags=tags, dataset=daily,
                                        dataset_name=dataset_name, preset=preset)
        charts = {path.stem: path.read_bytes() for path, _ in registration.artifacts if path.suffix == ".png"}
    move_alias(registry, audit, family.key, NEW_VERSION_ALIAS, version.version, "new training run", actor=actor)
    write_version_page(registry, family.key, version.version)
    return TrainedVersion(family.key, version, registration.metrics, registration.tables,
                          version_links(registry, family.key, version.version), charts)
