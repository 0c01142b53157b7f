"""Model versions pinned per run: every step of one Dagster run reads the same alias -> version map.

Aliases move while a run is in flight (the model assets point ``experimental`` at their new versions, a
promotion run moves ``current``/``stable``), so a step that reads the registry directly may see a different
map than its neighbour. :class:`PinnedRegistry` answers ``aliases`` from the run's map, resolved by the
first step of the run that asks and kept as ``<pins_dir>/<run_id>.json`` (the first writer wins; the file
stays as the record of what the run used), and ``load`` loads the pinned version whatever the alias points at
now. In
``risk_pipeline`` the steps that read models run after the model assets, so the map includes their versions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from risk_platform.errors import InputError
from risk_platform.io import write_once
from risk_platform.models.registry import LoadedModel, ModelRegistry

AliasMap = dict[str, dict[str, str]]  # model key -> {alias: version}


def pinned_aliases(pin_path: Path, resolve: Callable[[], AliasMap]) -> AliasMap:
    """The map kept at ``pin_path``; when there is none yet, ``resolve()`` kept there first."""
    if not pin_path.exists():
        write_once(pin_path, json.dumps(resolve(), indent=1, sort_keys=True))
    return json.loads(pin_path.read_text())


class PinnedRegistry(ModelRegistry):
    """The model registry as one run sees it (module docstring)."""

    def __init__(self, registry: ModelRegistry, pins_dir: Path, run_id: str, model_keys: Sequence[str]) -> None:
        super().__init__(registry.tracking_uri, registry.experiment, registry.artifact_root, registry.audit)
        self.pin_path = Path(pins_dir) / f"{run_id}.json"
        self.run_id = run_id
        self.model_keys = tuple(model_keys)

    def pinned(self) -> AliasMap:
        """Every model's alias -> version map for this run (read from the registry once per run)."""
        return pinned_aliases(self.pin_path, self.registry_aliases)

    def registry_aliases(self) -> AliasMap:
        """Every model's alias -> version map as the registry has it now (not pinned)."""
        read = super().aliases
        return {key: read(key) for key in self.model_keys}

    def aliases(self, model_key: str) -> dict[str, str]:
        return dict(self.pinned().get(model_key, {}))

    def load(self, model_key: str, alias: str = "experimental", version: str | None = None) -> LoadedModel:
        """The version ``alias`` pointed at when the run pinned its map (even if the alias has moved since)."""
        pinned = self.aliases(model_key).get(alias)
        if pinned is None:
            raise InputError(f"{model_key}: no version had the alias '{alias}' when run {self.run_id} pinned its"
                             " models")
        return super().load(model_key, alias, version=version or pinned)
