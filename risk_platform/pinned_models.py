"""Model versions pinned per run: every step of one Dagster run reads the same alias -> version map.

Aliases move while a run is in flight (the model assets point ``experimental`` at their new versions, a
promotion run moves ``current``/``stable``), so a step that reads the registry directly may see a different
map than its neighbour. :class:`PinnedRegistry` answers ``aliases`` from the run's map, resolved by the
first step of the run that asks and kept as ``<pins_dir>/<run_id>.json`` (the first writer wins; the file
stays as the record of what the run used), and ``load`` refuses a version other than the pinned one. In
``risk_pipeline`` the steps that read models run after the model assets, so the map includes their versions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from risk_platform.errors import ComputationError
from risk_platform.io import write_once
from risk_platform.models.registry import MODEL_NAMES, LoadedModel, ModelRegistry

AliasMap = dict[str, dict[str, str]]  # model key -> {alias: version}


def pinned_aliases(pin_path: Path, resolve: Callable[[], AliasMap]) -> AliasMap:
    """The map kept at ``pin_path``; when there is none yet, ``resolve()`` kept there first."""
    if not pin_path.exists():
        write_once(pin_path, json.dumps(resolve(), indent=1, sort_keys=True))
    return json.loads(pin_path.read_text())


class PinnedRegistry(ModelRegistry):
    """The model registry as one run sees it (module docstring)."""

    def __init__(self, registry: ModelRegistry, pins_dir: Path, run_id: str) -> None:
        super().__init__(registry.tracking_uri, registry.experiment, registry.artifact_root)
        self.pin_path = Path(pins_dir) / f"{run_id}.json"
        self.run_id = run_id

    def pinned(self) -> AliasMap:
        """Every model's alias -> version map for this run (read from the registry once per run)."""
        return pinned_aliases(self.pin_path, self.registry_aliases)

    def registry_aliases(self) -> AliasMap:
        """Every model's alias -> version map as the registry has it now (not pinned)."""
        read = super().aliases
        return {key: read(key) for key in MODEL_NAMES}

    def aliases(self, model_key: str) -> dict[str, str]:
        return dict(self.pinned().get(model_key, {}))

    def load(self, model_key: str, alias: str = "experimental") -> LoadedModel:
        """The version behind ``alias``; :class:`ComputationError` when the alias has moved away from the
        run's pinned version (rerun: the new run pins the new map)."""
        pinned = self.aliases(model_key).get(alias)
        loaded = super().load(model_key, alias)
        if loaded.version != pinned:
            raise ComputationError(f"{loaded.name}: alias '{alias}' moved to v{loaded.version} during run"
                                   f" {self.run_id}, which pinned v{pinned}: rerun to use the new version")
        return loaded
