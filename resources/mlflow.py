"""The MLflow tracking store and model registry, and the logs kept beside its alias audit log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from risk_platform.families import MODEL_NAMES
from risk_platform.models.audit import AuditLog

if TYPE_CHECKING:  # the registry imports MLflow: on use, not at the code location's start-up
    from risk_platform.models.pinned import PinnedRegistry
    from risk_platform.models.registry import ModelRegistry


class MlflowResource(dg.ConfigurableResource):
    """The MLflow tracking store and model registry (sqlite file embedded; a tracking server in production)."""

    tracking_uri: str
    audit_log: str
    artifact_root: str | None = None

    def registry(self) -> ModelRegistry:
        from risk_platform.models.registry import ModelRegistry

        return ModelRegistry(self.tracking_uri, artifact_root=self.artifact_root, audit=self.audit())

    def pinned_registry(self, run_id: str) -> PinnedRegistry:
        """The registry as the Dagster run ``run_id`` sees it: one alias -> version map for all its steps
        (:mod:`risk_platform.models.pinned`), kept under ``model_pins/`` beside the audit log."""
        from risk_platform.models.pinned import PinnedRegistry

        return PinnedRegistry(self.registry(), Path(self.audit_log).parent / "model_pins", run_id, tuple(MODEL_NAMES))

    def audit(self) -> AuditLog:
        """The append-only log of every alias move (MLflow keeps no history of them)."""
        return AuditLog(self.audit_log)

    def override_log(self) -> Path:
        """The append-only log of human overrides of guardrail-flagged forecasts (beside the audit log)."""
        from risk_platform.models.guardrails import override_log_beside

        return override_log_beside(self.audit_log)

    def shadow_log(self) -> Path:
        """The daily experimental-vs-current comparison (shadow mode), beside the audit log."""
        return Path(self.audit_log).parent / "shadow_lstm_vol.jsonl"


def embedded_mlflow(mlruns_dir: Path) -> MlflowResource:
    """``sqlite:///<absolute path>/mlflow.db`` with artifacts under ``<mlruns_dir>/artifacts``."""
    mlruns_dir = Path(mlruns_dir).resolve()
    return MlflowResource(tracking_uri=f"sqlite:///{mlruns_dir / 'mlflow.db'}",
                          artifact_root=str(mlruns_dir / "artifacts"),
                          audit_log=str(mlruns_dir / "alias_audit.jsonl"))
