"""The model families as one table: for each family its registered name, its configs per preset, how it is
trained, what its training run registers, how it is validated on a crisis window, its promotion gates and the
figures the demo prints. The Dagster assets, the crisis validation, the promotion gates, the registry, the
demo and the sensors all read :data:`FAMILIES`.

Adding a family: write its module (config class with ``demo``/``full``, training, registration, crisis
validation, window metrics) and add one :class:`ModelFamily` row to :data:`FAMILIES`. The asset
``<key>_model``, the partitioned asset ``<key>_crisis_validation``, the registered model
``risk_platform-<key>``, its gates and its line in the demo follow from the row.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from risk_platform.crisis_windows import CrisisWindow
from risk_platform.errors import InputError
from risk_platform.models.governance import Gate
from risk_platform.models.names import registered_name
from risk_platform.validation import crisis
from risk_platform.validation.crisis import WindowValidation

if TYPE_CHECKING:
    from risk_platform.models.reports import Registration

PRESETS = ("demo", "full")


def imported(path: str) -> Any:
    """The object at ``'package.module:name'``, imported when first used: the families' model code (torch,
    Lightning, torch_geometric, matplotlib) stays out of the Dagster code location's start-up."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def deferred(path: str) -> Callable[..., Any]:
    """The function at ``'package.module:name'`` (:func:`imported`), imported at its first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return imported(path)(*args, **kwargs)

    call.__name__ = path.split(":")[1]
    return call


GENERATORS, GNN, LSTM = "risk_platform.models.generators", "risk_platform.models.gnn", "risk_platform.models.lstm"
REPORTS, VALIDATION_REPORT = "risk_platform.models.reports", "risk_platform.validation.report"
train_gan, train_vae = deferred(f"{GENERATORS}:train_gan"), deferred(f"{GENERATORS}:train_vae")
train_gnn_corr = deferred(f"{GNN}:train_gnn_corr")
train_lstm_vol, refit_lstm_vol = deferred(f"{LSTM}:train_lstm_vol"), deferred(f"{LSTM}:refit_lstm_vol")
generator_registration, gnn_registration, lstm_registration = (
    deferred(f"{REPORTS}:{name}_registration") for name in ("generator", "gnn", "lstm"))
generator_window_metrics, gnn_window_metrics, lstm_window_metrics = (
    deferred(f"{VALIDATION_REPORT}:{name}_window_metrics") for name in ("generator", "gnn", "lstm"))


class Train(Protocol):
    def __call__(self, daily: pd.DataFrame, instruments: pd.DataFrame, config: Any, fast_dev_run: bool) -> Any: ...


class Register(Protocol):
    def __call__(self, result: Any, daily: pd.DataFrame, instruments: pd.DataFrame, folder: Path
                 ) -> Registration: ...


class Validate(Protocol):
    def __call__(self, daily: pd.DataFrame, instruments: pd.DataFrame, window: CrisisWindow, exposure: pd.Series,
                 config: Any, fast_dev_run: bool) -> WindowValidation: ...


def at_most(metric: str, setting: str, description: str) -> Gate:
    return Gate(metric, setting, operator.le, description)


@dataclass(frozen=True)
class ModelFamily:
    """One model family: everything the platform needs to train, register, validate, gate and show it.

    ``train(daily, instruments, config, fast_dev_run)`` returns the family's result; ``register(result, daily,
    instruments, folder)`` its :class:`Registration` (files written under ``folder``); ``validate(daily,
    instruments, window, exposure, config, fast_dev_run)`` retrains before a crisis window and backtests inside
    it; ``window_metrics(evaluated windows)`` the family's own figures across windows (gate inputs).
    ``validation_overrides``: per preset, the settings replaced for crisis retraining (a smaller epoch budget:
    seven retrainings per family fit in the main job's time). ``judged_method``: the backtest method of the
    family's forecasts that the promotion policy judges (its crisis windows may show others beside it).
    ``no_walk_forward``: why the family has no walk-forward out-of-sample forecasts of the validation book (its
    coverage gates then fail saying so); empty when the promotion produces them
    (:func:`~risk_platform.workflows.promotion.walk_forward_evidence`). ``carried_metrics``: prefixes of the
    training run's metrics that the validation run carries and the gates read. ``runs_after``: asset keys the
    training asset is ordered after (no data passed)."""

    key: str
    description: str
    validation_description: str
    config_path: str  # 'module:name' of a frozen dataclass with classmethods demo(**overrides) and full(**overrides)
    validation_overrides: Mapping[str, Mapping[str, Any]]
    train: Train
    register: Register
    validate: Validate
    window_metrics: Callable[[list[WindowValidation]], dict[str, float]]
    gates: tuple[Gate, ...]
    headline_metrics: tuple[str, ...]
    judged_method: str
    no_walk_forward: str = ""
    carried_metrics: tuple[str, ...] = ()
    runs_after: tuple[str, ...] = ()

    @property
    def config_class(self) -> Any:
        """The training config class (imported on use, with its model module)."""
        return imported(self.config_path)

    @property
    def registered_name(self) -> str:
        """The registered model's name in MLflow."""
        return registered_name(self.key)

    @property
    def asset_name(self) -> str:
        """The training asset (it registers a new ``experimental`` version)."""
        return f"{self.key}_model"

    @property
    def validation_asset_name(self) -> str:
        """The crisis-window validation asset (partitioned by window)."""
        return f"{self.key}_crisis_validation"

    def config(self, preset: str) -> Any:
        """The training config of ``preset`` (``demo`` or ``full``)."""
        return getattr(self.config_class, _checked(preset))()

    def validation_config(self, preset: str) -> Any:
        """The crisis-retraining config: the preset's architecture with the validation overrides."""
        return getattr(self.config_class, _checked(preset))(**self.validation_overrides.get(preset, {}))

    def fit(self, daily: pd.DataFrame, instruments: pd.DataFrame, preset: str, fast_dev_run: bool,
            folder: Path) -> Registration:
        """Train with the preset's config and build the registration (its files under ``folder``)."""
        result = self.train(daily, instruments, self.config(preset), fast_dev_run)
        return self.register(result, daily, instruments, folder)

    def validate_window(self, daily: pd.DataFrame, instruments: pd.DataFrame, window: CrisisWindow,
                        exposure: pd.Series, preset: str, fast_dev_run: bool) -> WindowValidation:
        """Retrain before ``window`` with the preset's validation config and backtest the book inside it; not
        evaluable, with the reason, when the window lies outside the data."""
        if reason := crisis.window_outside_data(daily, window):
            return crisis.not_evaluable(window, self.key, reason)
        return self.validate(daily, instruments, window, exposure, self.validation_config(preset), fast_dev_run)

    def training_metrics_for_gates(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """The training run's metrics that the validation run carries (``carried_metrics`` prefixes)."""
        return {k: v for k, v in metrics.items() if k.startswith(self.carried_metrics)}


def _checked(preset: str) -> str:
    if preset not in PRESETS:
        raise InputError(f"unknown preset '{preset}' (expected one of {', '.join(PRESETS)})")
    return preset


GENERATOR_GATE_METRICS = ("stress_var99_rel_err_equal_weight", "stress_es975_rel_err_equal_weight",
                          "stress_var99_rel_err_60_40", "stress_es975_rel_err_60_40")
GENERATOR_HEADLINE = ("stress_disc_score", "stress_var99_rel_err_equal_weight", "stress_es975_rel_err_60_40")


def _generator_family(key: str, config_path: str, train: Callable[..., Any], validation_epochs: tuple[int, int],
                      description: str, validation_description: str) -> ModelFamily:
    """A scenario generator (GAN, VAE): the same registration, validation, gates and headline figures;
    ``validation_epochs``: the crisis retraining's epochs of the demo preset (half its training's) and the full."""
    name = key.split("_")[0]  # "gan", "vae": the backtest method and the quality table's column
    return ModelFamily(
        key=key,
        description=description,
        validation_description=validation_description,
        config_path=config_path,
        validation_overrides={"demo": {"max_epochs": validation_epochs[0]},
                              "full": {"max_epochs": validation_epochs[1]}},
        train=lambda daily, instruments, config, fast_dev_run: train(daily, config, fast_dev_run=fast_dev_run),
        register=lambda result, daily, instruments, folder: generator_registration(name, result, daily, instruments,
                                                                                   folder),
        validate=lambda daily, instruments, window, exposure, config, fast_dev_run: crisis.validate_generator(
            key, train, daily, instruments, window, exposure, config, fast_dev_run=fast_dev_run),
        window_metrics=generator_window_metrics,
        gates=tuple(at_most(m, "max_generator_rel_err", "stress-regime portfolio risk within {threshold:.0%} of"
                            " historical") for m in GENERATOR_GATE_METRICS),
        headline_metrics=GENERATOR_HEADLINE,
        judged_method=name,
        no_walk_forward=f"no walk-forward out-of-sample book forecasts for {key}: its evaluation scores generated"
        " scenarios against real returns in the stress regime, not the book's daily VaR",
        carried_metrics=("stress_",),
    )


LSTM_VOL = ModelFamily(
    key="lstm_vol",
    description="Global LSTM volatility + regime forecaster: one model on each series' own features (no series"
    " identity), so it forecasts series outside its training set zero-shot; scored out of sample against GARCH-t"
    " and EWMA.",
    validation_description="LSTM volatility forecaster retrained before the window: QLIKE against EWMA and GARCH-t"
    " inside it, and the book's VaR with LSTM volatilities and EWMA correlations.",
    config_path=f"{LSTM}:LSTMConfig",
    validation_overrides={"demo": {"epochs": 2}, "full": {"epochs": 10}},
    train=lambda daily, instruments, config, fast_dev_run: refit_lstm_vol(  # evaluated, then refit on all days
        daily, train_lstm_vol(daily, config, fast_dev_run=fast_dev_run, instruments=instruments),
        fast_dev_run=fast_dev_run, instruments=instruments),
    register=lambda result, daily, instruments, folder: lstm_registration(result, daily, instruments, folder),
    validate=lambda daily, instruments, window, exposure, config, fast_dev_run: crisis.validate_lstm(
        daily, window, exposure, config, fast_dev_run=fast_dev_run, instruments=instruments),
    window_metrics=lstm_window_metrics,
    gates=(at_most("qlike_ratio_to_ewma", "max_qlike_ratio_to_ewma", "QLIKE no worse than EWMA"),),
    headline_metrics=("qlike_lstm", "qlike_garch_t", "qlike_ewma", "qlike_ratio_to_garch_t"),
    judged_method="evt_lstm",  # conditional EVT over the LSTM book sigma: normal tails are too thin at 99%
    runs_after=("vol_baselines",),
)

GNN_CORR = ModelFamily(
    key="gnn_corr",
    description="GNN (GATConv) forecast of the next 21 days' correlation matrix; scored against the 63-day sample"
    " and EWMA correlations (Frobenius error, 2020-2024).",
    validation_description="GNN correlation retrained before the window: Frobenius error against the sample and"
    " EWMA correlations inside it, and the book's VaR with the GNN correlation.",
    config_path=f"{GNN}:GNNConfig",
    validation_overrides={"demo": {"max_epochs": 5}, "full": {"max_epochs": 10}},
    train=lambda daily, instruments, config, fast_dev_run: train_gnn_corr(daily, instruments, config,
                                                                          fast_dev_run=fast_dev_run),
    register=lambda result, daily, instruments, folder: gnn_registration(result, daily, folder),
    validate=lambda daily, instruments, window, exposure, config, fast_dev_run: crisis.validate_gnn(
        daily, instruments, window, exposure, config, fast_dev_run=fast_dev_run),
    window_metrics=gnn_window_metrics,
    gates=(at_most("ratio_gnn_to_sample63", "max_frobenius_ratio_to_sample",
                   "correlation error no worse than the 63-day sample"),),
    headline_metrics=("frobenius_gnn", "frobenius_sample63", "frobenius_ewma"),
    judged_method="gnn",
    no_walk_forward="no walk-forward out-of-sample book forecasts for gnn_corr: its evaluation split is scored on"
    " correlation error, not the book's VaR",
)

GAN_SCENARIOS = _generator_family(
    "gan_scenarios", f"{GENERATORS}:GANConfig", train_gan, (60, 300),
    "Conditional WGAN-GP stress-scenario generator (joint one-day returns of every series by regime); quality"
    " in the high-volatility regime against real returns, beside a filtered-historical-simulation bootstrap.",
    "GAN retrained before the window: quality against the window's returns and the book's VaR from"
    " regime-conditional scenarios.")

VAE_SCENARIOS = _generator_family(
    "vae_scenarios", f"{GENERATORS}:VAEConfig", train_vae, (50, 200),
    "Conditional VAE stress-scenario generator with the GAN's interface; same quality evaluation.",
    "VAE retrained before the window: quality against the window's returns and the book's VaR from"
    " regime-conditional scenarios.")

FAMILIES: dict[str, ModelFamily] = {f.key: f for f in (LSTM_VOL, GNN_CORR, GAN_SCENARIOS, VAE_SCENARIOS)}
MODEL_NAMES = {key: family.registered_name for key, family in FAMILIES.items()}  # model key -> registered name


def model_family(key: str) -> ModelFamily:
    """The family ``key`` (an :class:`InputError` naming the known families otherwise)."""
    if key not in FAMILIES:
        raise InputError(f"unknown model '{key}' (expected one of {', '.join(FAMILIES)})")
    return FAMILIES[key]
