"""Model versions pinned per run: every step of a run sees the alias map of the run's first read."""

import pytest

from risk_platform.errors import InputError, RegistryUnavailable
from risk_platform.io import write_once
from risk_platform.models.names import registered_name
from risk_platform.models.pinned import PinnedRegistry, pinned_aliases
from risk_platform.models.registry import LoadedModel, ModelRegistry

KEYS = ("lstm_vol", "gnn_corr")


@pytest.fixture
def registry(monkeypatch, tmp_path):
    """A registry whose aliases live in a dict the test moves (no MLflow store)."""
    live = {key: {"experimental": "1"} for key in KEYS}

    def aliases(self, model_key):
        return dict(live[model_key])

    def load(self, model_key, alias="experimental", version=None):
        return LoadedModel(None, {}, registered_name(model_key), version or live[model_key][alias], "run", alias)

    monkeypatch.setattr(ModelRegistry, "aliases", aliases)
    monkeypatch.setattr(ModelRegistry, "load", load)
    return ModelRegistry(f"sqlite:///{tmp_path / 'unused.db'}"), live


def test_every_step_of_a_run_sees_the_first_read(registry, tmp_path):
    base, live = registry
    pins = tmp_path / "pins"
    first_step = PinnedRegistry(base, pins, "run-1", KEYS)
    assert first_step.aliases("lstm_vol") == {"experimental": "1"}
    live["lstm_vol"]["experimental"] = "2"  # e.g. a training run moved the alias meanwhile
    second_step = PinnedRegistry(base, pins, "run-1", KEYS)
    assert second_step.aliases("lstm_vol") == {"experimental": "1"}
    assert second_step.registry_aliases()["lstm_vol"] == {"experimental": "2"}
    assert second_step.load("lstm_vol", "experimental").version == "1"  # the pinned version, not the moved alias
    with pytest.raises(InputError, match="no version had the alias 'current'"):
        second_step.load("lstm_vol", "current")
    assert second_step.load("gnn_corr", "experimental").version == "1"
    assert PinnedRegistry(base, pins, "run-2", KEYS).aliases("lstm_vol") == {"experimental": "2"}


def test_an_unreadable_registry_pins_nothing(registry, tmp_path, monkeypatch):
    base, _ = registry

    def unreadable(self, model_key):
        raise RegistryUnavailable("MLflow registry unreadable")

    monkeypatch.setattr(ModelRegistry, "aliases", unreadable)
    with pytest.raises(RegistryUnavailable):
        PinnedRegistry(base, tmp_path, "run-1", KEYS).aliases("lstm_vol")
    assert not (tmp_path / "run-1.json").exists()  # a later step of the run may still read and pin


def test_the_first_writer_wins(tmp_path):
    path = tmp_path / "pins" / "run.json"
    assert pinned_aliases(path, lambda: {"lstm_vol": {"current": "3"}}) == {"lstm_vol": {"current": "3"}}
    assert pinned_aliases(path, lambda: {"lstm_vol": {"current": "4"}}) == {"lstm_vol": {"current": "3"}}
    assert not write_once(path, "{}") and list(path.parent.iterdir()) == [path]  # no temporary file left
