"""One training run of a model family: train with the preset's config, log the family's registration to
MLflow as a new registered version, and point ``experimental`` at it through the audited governance path."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from risk_platform.families import ModelFamily
from risk_platform.models.audit import AuditLog
from risk_platform.models.governance import move_alias

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

    def to_dict(self) -> dict:
        """What the training asset returns (downstream assets read the version and the metrics)."""
        return {"model_uri": self.version.model_uri, "version": self.version.version, "run_id": self.version.run_id,
                "metrics": self.metrics}


def train_and_register(family: ModelFamily, registry: ModelRegistry, audit: AuditLog, daily: pd.DataFrame,
                       instruments: pd.DataFrame, *, preset: str, fast_dev_run: bool, tags: dict[str, str],
                       dataset_name: str, actor: str) -> TrainedVersion:
    """Train ``family`` on ``daily``, register the version with lineage ``tags`` and the training data logged as
    ``dataset_name``, then move ``experimental`` to it (audited). A failed training registers nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        registration = family.fit(daily, instruments, preset, fast_dev_run, Path(tmp))
        version = registry.log_training(model_key=family.key, registration=registration, tags=tags, dataset=daily,
                                        dataset_name=dataset_name)
    move_alias(registry, audit, family.key, NEW_VERSION_ALIAS, version.version, "new training run", actor=actor,
               validation_run_id=version.run_id)
    return TrainedVersion(family.key, version, registration.metrics, registration.tables)
