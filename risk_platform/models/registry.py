"""MLflow: one run per training, the model logged as a torch.export (pt2) program and registered as a new
version; aliases move only through :mod:`risk_platform.models.governance`, which audits every move. Uses an
explicit :class:`MlflowClient` (no global tracking URI).

Every run carries the lineage tags ``dagster_run_id, dagster_asset_key, partition_key, git_sha,
data_sha256, gx_validation_id`` and its training data logged with ``log_inputs`` (name and digest). Every
experiment is tagged ``mlflow.experimentKind = custom_model_development`` (MLflow 3 then opens its classic
layout, not the GenAI one). A model version carries few tags (:data:`VERSION_TAGS`); what a reviewer reads is
its Markdown description (:mod:`risk_platform.models.version_page`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import mlflow.data
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from risk_platform.errors import ComputationError, InputError, RegistryUnavailable
from risk_platform.models.audit import AuditLog, UnauditedMove, reconcile_aliases
from risk_platform.models.names import (
    ARTIFACT_HASH_TAG,
    TRAINING_WINDOW_PARAMS,
    VALIDATION_RUN_TAG,
    registered_name,
)

if TYPE_CHECKING:  # reports imports the generators and with them Lightning: not for loading a model
    from torch import nn

    from risk_platform.models.reports import Registration

T = TypeVar("T")
LINEAGE_TAGS = ("dagster_run_id", "dagster_asset_key", "partition_key", "git_sha", "data_sha256", "gx_validation_id")
ALIASES = ("stable", "current", "experimental")
EXPERIMENT = "risk_platform"
VALIDATION_EXPERIMENT = "risk_platform-validation"
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version and the run that produced it."""

    name: str
    version: str  # MLflow returns int versions in places; the platform always uses str
    run_id: str
    model_uri: str


def pip_requirements() -> list[str]:
    """Explicit requirements for logged models (saves MLflow's slow inference of them)."""
    import torch

    return [f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"]


def artifact_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, keyed by its path relative to it (``/``-separated)."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def hash_mismatch(expected: dict[str, str], found: dict[str, str]) -> str | None:
    """The first file whose content differs from its registered hash, in words; None when every file matches."""
    for name, digest in sorted(expected.items()):
        if found.get(name) != digest:
            seen = found[name][:16] if name in found else "no such file"
            return f"artifact hash mismatch on {name}: expected sha256 {digest[:16]}, found {seen}"
    return None


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded from the registry, with the metadata it was logged with and where it came from."""

    module: nn.Module
    metadata: dict
    name: str
    version: str
    run_id: str
    alias: str
    verified: bool = False  # the artifacts matched the hashes recorded at registration (False: none recorded)


def exported_module(local: Path, model: Model) -> nn.Module:
    """The module of a downloaded MLflow pytorch model: a ``torch.export`` program (``data/model.pt2``, no
    pickles) is loaded with torch alone, as MLflow's loader does, without importing ``mlflow.pytorch`` (and with
    it Lightning: seconds of start-up for every ``backtest --method lstm``); any other format through MLflow."""
    data = local / model.flavors.get("pytorch", {}).get("model_data", "data") / "model.pt2"
    if data.is_file():
        import torch

        return torch.export.load(str(data)).module()
    from mlflow import pytorch as mlflow_pytorch

    return mlflow_pytorch.load_model(str(local))


class ModelRegistry:
    """Log, register and load the platform's models in one MLflow tracking store. With ``audit`` (the alias audit
    log), reading aliases checks that the models and versions the log moved aliases to are still registered."""

    def __init__(self, tracking_uri: str, experiment: str = EXPERIMENT, artifact_root: str | None = None,
                 audit: AuditLog | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.experiment = experiment
        self.artifact_root = artifact_root
        self.audit = audit

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created on first write only (reading never creates anything), tagged
        :data:`EXPERIMENT_KIND` on creation and, when it lacks the tag, on an existing one. Two trainings running
        at once (other processes or machines: the multiprocess or Celery executor) may both find it missing: the
        one whose creation is refused as existing uses the other's."""
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self.client.create_experiment(name, artifact_location=self.artifact_root,
                                                     tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
            except MlflowException as exc:
                found = self.client.get_experiment_by_name(name)
                if exc.error_code != "RESOURCE_ALREADY_EXISTS" or found is None:
                    raise
        if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            self.client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return found.experiment_id

    def log_training(self, *, model_key: str, registration: Registration, tags: dict[str, str],
                     dataset: pd.DataFrame, dataset_name: str, preset: str | None = None) -> RegisteredVersion:
        """One run: the registration's params (and ``preset``), metrics and artifacts, lineage tags, the input
        dataset, the model with its metadata (stored in the MLmodel file: what a user needs to build inputs, e.g.
        the series order and sequence length); then register it, the version tagged with its artifacts' hashes,
        and name the run ``<family> v<version> data:<first 8 of data_sha256>``.

        If anything fails, the run is marked FAILED and nothing is registered (no alias moves).
        """
        name = registered_name(model_key)
        missing = [t for t in LINEAGE_TAGS if t not in tags]
        if missing:
            raise InputError(f"lineage tags missing: {', '.join(missing)}")
        metrics = registration.metrics
        bad = {k: v for k, v in metrics.items() if not np.isfinite(v)}
        if bad:
            raise ComputationError(f"non-finite metrics, refusing to register {name}: {bad}")
        data = f"data:{tags['data_sha256'][:8]}"
        run = self.client.create_run(self.experiment_id(self.experiment), run_name=f"{model_key} {data}",
                                     tags={**tags, "model_key": model_key, "registered_model": name})
        run_id = run.info.run_id
        params = {**registration.params, **({"preset": preset} if preset else {})}
        try:
            self.client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), int(time.time() * 1000), 0) for k, v in metrics.items()],
                params=[Param(k, str(v)[:6000]) for k, v in params.items()],
            )
            source = mlflow.data.from_pandas(dataset, name=dataset_name)
            self.client.log_inputs(run_id, [DatasetInput(source._to_mlflow_entity(),
                                                         [InputTag("mlflow.data.context", "training")])])
            for local, artifact_dir in registration.artifacts:
                self.client.log_artifact(run_id, str(local), artifact_dir)
            with tempfile.TemporaryDirectory() as tmp:
                local_model = Path(tmp) / "model"
                from mlflow import pytorch as mlflow_pytorch  # imports Lightning: only where a model is saved

                mlflow_pytorch.save_model(registration.model, str(local_model),
                                          input_example=registration.input_example,
                                          pip_requirements=pip_requirements(), serialization_format="pt2",
                                          metadata=registration.metadata)
                hashes = artifact_hashes(local_model)
                self.client.log_artifacts(run_id, str(local_model), "model")
            self.client.set_terminated(run_id, "FINISHED")
        except Exception:
            self.client.set_terminated(run_id, "FAILED")
            raise
        try:
            self.client.create_registered_model(name, description=f"risk-platform {model_key} model")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = self.client.create_model_version(name, f"runs:/{run_id}/model", run_id,
                                                   tags={ARTIFACT_HASH_TAG: json.dumps(hashes, sort_keys=True)})
        self.client.update_run(run_id, name=f"{model_key} v{version.version} {data}")
        return RegisteredVersion(name, str(version.version), run_id, f"models:/{name}/{version.version}")

    def log_validation(self, *, model_key: str, version: str, metrics: dict[str, float], tags: dict[str, str],
                       artifacts: list[tuple[Path, str]], scope: str) -> str:
        """One run in the validation experiment for a model version, named ``validate <family> v<version>
        <scope>`` (what it validated, e.g. ``5 crisis windows + walk-forward``): metrics (the figures stay there,
        not on the version), report artifacts, lineage tags. The version's :data:`VALIDATION_RUN_TAG` is set to
        the run id; returns it."""
        name = registered_name(model_key)
        experiment = self.experiment_id(VALIDATION_EXPERIMENT)
        source = self.client.get_model_version(name, version)
        run = self.client.create_run(experiment, run_name=f"validate {model_key} v{version} {scope}",
                                     tags={**tags, "model_key": model_key, "validated_model": name,
                                           "validated_version": str(version), "model_run_id": source.run_id})
        run_id = run.info.run_id
        finite = {k: float(v) for k, v in metrics.items() if np.isfinite(v)}
        try:
            self.client.log_batch(run_id, metrics=[Metric(k, v, int(time.time() * 1000), 0) for k, v in finite.items()])
            for local, artifact_dir in artifacts:
                self.client.log_artifact(run_id, str(local), artifact_dir)
            self.client.set_terminated(run_id, "FINISHED")
        except Exception:
            self.client.set_terminated(run_id, "FAILED")
            raise
        self.client.set_model_version_tag(name, version, VALIDATION_RUN_TAG, run_id)
        return run_id

    def aliases(self, model_key: str) -> dict[str, str]:
        """alias -> version for a registered model as readers may use it: with the audit log, the audited
        aliases (an alias moved outside :func:`~risk_platform.models.governance.move_alias` is refused, see
        :meth:`unaudited_moves`); without it, the registry's. Empty when it has none or is not registered yet."""
        return self.alias_state(model_key)[0]

    def unaudited_moves(self, model_key: str) -> list[UnauditedMove]:
        """The registry's aliases of ``model_key`` that the audit log does not account for (none without a log)."""
        return self.alias_state(model_key)[1]

    def alias_state(self, model_key: str) -> tuple[dict[str, str], list[UnauditedMove]]:
        """The usable aliases and the unaudited moves (:func:`~risk_platform.models.audit.reconcile_aliases`)."""
        found = self.registry_alias_map(model_key)
        if self.audit is None:
            return found, []
        return reconcile_aliases(model_key, found, self.audit.aliases(model_key))

    def registry_alias_map(self, model_key: str) -> dict[str, str]:
        """alias -> version as the registry holds it, audited or not.
        :class:`RegistryUnavailable` when the registry cannot be read: an outage is not "no aliases" (callers
        would otherwise see every alias vanish, and reappear, as moves); and when the audit log moved aliases
        to versions the registry does not hold (a store lost, or replaced by an empty one)."""
        try:
            aliases = self.client.get_registered_model(registered_name(model_key)).aliases
        except Exception as exc:  # noqa: BLE001 (connection and store errors of any kind)
            if isinstance(exc, MlflowException) and exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                self._require_audited_versions(model_key)
                return {}
            raise self._unavailable(exc) from None
        if not aliases:
            self._require_audited_versions(model_key)
        return {alias: str(version) for alias, version in aliases.items()}

    def _unavailable(self, exc: Exception) -> RegistryUnavailable:
        first_line = (str(exc).splitlines() or [""])[0][:200]
        return RegistryUnavailable(f"MLflow registry {self.tracking_uri} unreadable: {exc.__class__.__name__}:"
                                   f" {first_line}")

    def _require_audited_versions(self, model_key: str) -> None:
        """:class:`RegistryUnavailable` when the audit log expects aliases of ``model_key`` on versions the
        registry does not have (its aliases are empty: the store may have been lost or recreated)."""
        expected = self.audit.aliases(model_key) if self.audit is not None else {}
        name = registered_name(model_key)
        for version in sorted(set(expected.values())):
            try:
                self.client.get_model_version(name, version)
            except Exception as exc:  # noqa: BLE001
                if not (isinstance(exc, MlflowException) and exc.error_code == "RESOURCE_DOES_NOT_EXIST"):
                    raise self._unavailable(exc) from None
                moves = ", ".join(f"{a} -> v{v}" for a, v in sorted(expected.items()))
                raise RegistryUnavailable(
                    f"MLflow registry {self.tracking_uri} has no version {version} of {name}, but the alias audit"
                    f" log {self.audit.path} records {moves}: the store was lost or replaced") from None

    def load(self, model_key: str, alias: str = "experimental", version: str | None = None) -> LoadedModel:
        """Load the version behind ``alias`` (the audited one, with an audit log), or ``version`` itself when
        given (read under that alias: a run's pinned version), downloaded from its run's artifacts, with its
        metadata. The files are checked against the hashes recorded at registration (versions registered before
        them load unverified); a mismatch or an unreadable artifact is a :class:`ComputationError` naming the
        model, version and reason."""
        name = registered_name(model_key)
        number = version or self.aliases(model_key).get(alias)  # with an audit log: the audited version
        if number is None:
            raise InputError(f"no version of {name} has the alias '{alias}' in {self.tracking_uri}")
        try:
            version = self.client.get_model_version(name, number)
        except MlflowException:
            raise InputError(f"{name} has no version {number} in {self.tracking_uri}") from None
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self.client.download_artifacts(version.run_id, "model", tmp)
            except MlflowException as exc:
                raise InputError(f"{name} version {version.version}: model artifacts not readable"
                                 f" ({str(exc).splitlines()[0]})") from None
            expected = version.tags.get(ARTIFACT_HASH_TAG)
            problem = expected and hash_mismatch(json.loads(expected), artifact_hashes(Path(local)))
            if problem:
                raise ComputationError(f"{name} version {version.version}: {problem}")
            try:
                model = Model.load(local)
                module, metadata = exported_module(Path(local), model), model.metadata or {}
            except Exception as exc:  # noqa: BLE001 (unzipping, unpickling, torch.export: any error of a bad file)
                first_line = (str(exc).splitlines() or [""])[0][:200]
                raise ComputationError(f"{name} version {version.version}: model artifacts unreadable"
                                       f" ({exc.__class__.__name__}: {first_line})") from None
        return LoadedModel(module, metadata, name, str(version.version), version.run_id, alias, bool(expected))

    def training_metrics(self, model_key: str, version: str) -> dict[str, float]:
        """The metrics the training run of ``version`` logged (:class:`InputError` when it is not registered)."""
        name = registered_name(model_key)
        try:
            run_id = self.client.get_model_version(name, version).run_id
        except MlflowException:
            raise InputError(f"{name} has no version {version} in {self.tracking_uri}") from None
        return dict(self.run(run_id).data.metrics)

    def versions(self, model_key: str) -> list[dict]:
        """Every registered version of ``model_key`` (newest first) with its aliases (:meth:`aliases`) and the
        training window its run logged (:data:`TRAINING_WINDOW_PARAMS`; None when a version predates them).
        Empty when the model is not registered."""
        name = registered_name(model_key)
        by_version: dict[str, list[str]] = {}
        for alias, version in self.aliases(model_key).items():
            by_version.setdefault(version, []).append(alias)
        try:
            found = self.client.search_model_versions(f"name='{name}'")
        except Exception as exc:  # noqa: BLE001 (connection and store errors of any kind)
            raise self._unavailable(exc) from None
        rows = []
        for v in sorted(found, key=lambda v: int(v.version), reverse=True):
            params = self.run(v.run_id).data.params
            rows.append({"model": model_key, "version": str(v.version), "aliases": sorted(by_version.get(
                str(v.version), [])), "run_id": v.run_id, **{p: params.get(p) for p in TRAINING_WINDOW_PARAMS}})
        return rows

    def read_artifact(self, run_id: str, artifact_path: str, read: Callable[[Path], T]) -> T:
        """``read`` of one artifact of run ``run_id``, downloaded to a temporary folder; :class:`InputError`
        (``run <id> has no readable <path> (<cause>)``) when it cannot be downloaded or read."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                return read(Path(self.client.download_artifacts(run_id, artifact_path, tmp)))
            except (OSError, ValueError, InputError, MlflowException) as exc:
                raise InputError(f"run {run_id} has no readable {artifact_path} ({exc.__class__.__name__})"
                                 ) from None

    def version_lineage(self, model_key: str, version: str) -> dict[str, str]:
        """What a version was trained from, read from its training run: ``mlflow_run_id``,
        ``mlflow_experiment_id`` and the lineage tags ``dagster_run_id``, ``data_sha256``, ``gx_validation_id``,
        ``git_sha`` (``unknown`` for a tag the run lacks); InputError when the registry has no such version."""
        try:
            run_id = self.client.get_model_version(registered_name(model_key), version).run_id
        except MlflowException as exc:
            raise InputError(f"{model_key} v{version}: {str(exc).splitlines()[0]}") from None
        run = self.run(run_id)
        return {"mlflow_run_id": run_id, "mlflow_experiment_id": run.info.experiment_id,
                **{k: run.data.tags.get(k, "unknown") for k in LINEAGE_TAGS}}

    def run(self, run_id: str):
        """An MLflow run; :class:`InputError` when the store has no such run."""
        try:
            return self.client.get_run(run_id)
        except MlflowException as exc:
            raise InputError(f"MLflow run {run_id}: {str(exc).splitlines()[0]}") from None

