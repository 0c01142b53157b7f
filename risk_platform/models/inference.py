"""Model outputs for the risk engine, per alias: for each of ``stable``, ``current`` and ``experimental`` that
exists, the registered versions behind it produce arrays (LSTM volatilities and regime probabilities, the GNN
correlation, GAN/VAE scenarios) packed as :class:`~risk_platform.risk.report.ModelInputs`; the engine computes
every method with each set and binds limits to the most conservative figure.

Guardrail: an LSTM volatility above twice its series' norm (:mod:`risk_platform.models.guardrails`) feeds the
figures only once a named human accepted it in the override log; until then that series uses its EWMA(0.94)
volatility, and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from risk_platform.errors import ComputationError, InputError, RegistryUnavailable
from risk_platform.features.market_stress import MarketRoles
from risk_platform.models.audit import UnauditedMove, record_unaudited
from risk_platform.models.datasets import market_regime
from risk_platform.models.guardrails import (
    OverrideLog,
    accepted_overrides,
    check_forecasts,
    historical_norms,
    limit_inputs,
)
from risk_platform.models.registry import ALIASES, LoadedModel, ModelRegistry
from risk_platform.models.sampler_inputs import scenario_inputs
from risk_platform.regime import REGIMES
from risk_platform.risk.report import ModelInputs, ScenarioSet

N_SCENARIOS = 50_000
STRESS_REGIME = "high"


@dataclass
class AliasedInputs:
    """The inputs per alias and what a reviewer should know about them (guardrail flags, missing models)."""

    inputs: list[ModelInputs] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    guardrails: list[dict] = field(default_factory=list)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # model key -> {alias: version}; {} if unread
    registry_error: str | None = None  # the registry could not be read, or lost what the audit log expects
    unaudited: list[UnauditedMove] = field(default_factory=list)  # aliases moved outside the audit (refused)


def current_regime(daily: pd.DataFrame) -> str:
    """The market regime of the latest day (:func:`~risk_platform.models.datasets.market_regime`); ``normal``
    while it is unknown."""
    regime = market_regime(daily)
    return str(regime.iloc[-1]) if len(regime) and regime.iloc[-1] in REGIMES else "normal"


def lstm_outputs(loaded: LoadedModel, daily: pd.DataFrame) -> pd.DataFrame:
    """Latest next-day forecasts of a registered LSTM for every series of ``daily``: per symbol ``variance, vol,
    p_low, p_normal, p_high, seen_in_training`` (False: not among the version's training series, forecast
    zero-shot); a version from before the global LSTM is left out by :func:`load_or_note`. A version with
    market inputs reads them from every series of ``daily`` (its roles in metadata ``market_inputs``)."""
    from risk_platform.models.lstm import forecast_latest

    return forecast_latest(loaded.module, daily, loaded.metadata["symbols"], int(loaded.metadata["seq_len"]),
                           MarketRoles.from_metadata(loaded.metadata.get("market_inputs"))).set_index("symbol")


def gnn_correlation(loaded: LoadedModel, daily: pd.DataFrame) -> np.ndarray:
    """The registered GNN's forecast correlation (k, k) from the latest complete day."""
    from risk_platform.models.gnn import GNNConfig, forecaster_input

    meta = loaded.metadata
    config = GNNConfig.demo(corr_windows=tuple(meta["corr_windows"]), n_lags=int(meta["n_lags"]),
                            ewma_window=int(meta["ewma_window"]))
    _, inputs = forecaster_input(daily, meta["symbols"], config)
    with torch.no_grad():
        return loaded.module(inputs).numpy().astype(float)


def generated(loaded: LoadedModel, regime: str, n: int = N_SCENARIOS, seed: int = 0,
              volatility: np.ndarray | None = None) -> np.ndarray:
    """``n`` scenarios (n, k) of a registered generator for ``regime`` (standard normal noise, as trained).
    ``volatility`` (k,): today's volatility per series, scaling the generated shocks (versions with a
    volatility input); None, or a version without that input: the regime's volatility state."""
    k_vol = len(loaded.metadata["symbols"]) if loaded.metadata.get("vol_input") else None
    inputs = scenario_inputs(n, int(loaded.metadata["latent_dim"]), regime, k_vol, seed,
                             volatility if k_vol is not None else None)
    with torch.no_grad():
        return loaded.module(inputs).numpy()


def covering(array: np.ndarray, gen_symbols: list[str], symbols: list[str], loaded: LoadedModel, alias: str,
             notes: list[str] | None = None) -> np.ndarray | ScenarioSet:
    """A generator's scenarios as the alias set's columns, or, when the version covers other series than the
    set (trained on another universe, or a series added since), a :class:`ScenarioSet` over its own series,
    with a note naming what it lacks: book factors outside it do not move, and the method is marked
    incomplete (never a headline)."""
    if gen_symbols == symbols:
        return array
    if notes is not None:
        lacking = sorted(set(symbols) - set(gen_symbols))
        label = f"{alias}: {loaded.name} v{loaded.version} covers {len(gen_symbols)} series"
        notes.append(f"{label}, not {', '.join(lacking)}: those factors do not move in its scenarios (retrain on the"
                     " universe to cover them)" if lacking else f"{label}: its scenarios are used over its own series")
    return ScenarioSet(tuple(gen_symbols), array, f"{loaded.name} v{loaded.version}")


def _require_current_inputs(key: str, loaded: LoadedModel) -> None:
    """:class:`InputError` when a version's inputs predate the family's current ones (an LSTM with a series
    one-hot, a GNN blending a training-target prior): it cannot take today's inputs."""
    label = f"{loaded.name} v{loaded.version}"
    if key == "lstm_vol":
        from risk_platform.models.lstm import require_global

        require_global(loaded.metadata, label)
    elif key == "gnn_corr":
        from risk_platform.models.gnn import require_point_in_time

        require_point_in_time(loaded.metadata, label)


def load_or_note(registry: ModelRegistry, key: str, alias: str, notes: list[str]) -> LoadedModel | None:
    """The version behind ``alias``; None, with a note naming it and why, when its artifacts are corrupt or
    unreadable, or it cannot take today's inputs (an LSTM from before the global model): that version is left
    out, everything else still runs. A version registered before artifact hashes loads unverified, with a note
    saying so."""
    try:
        loaded = registry.load(key, alias)
        _require_current_inputs(key, loaded)
    except RegistryUnavailable:
        raise
    except (ComputationError, InputError) as exc:
        notes.append(f"{alias}: {key} left out: {exc}")
        return None
    if not loaded.verified:
        notes.append(f"{alias}: {loaded.name} v{loaded.version} was registered without artifact hashes: loaded"
                     " unverified")
    return loaded


def trained_through(models: Sequence[LoadedModel | None]) -> dict[str, str]:
    """Version label (``lstm_vol v3``) -> the last day of its training data (metadata ``train_end``; ``""`` when a
    version registered before training windows were does not record it)."""
    return {f"{m.name.removeprefix('risk_platform-')} v{m.version}": str(m.metadata.get("train_end") or "")[:10]
            for m in models if m is not None}


def read_aliases(registry: ModelRegistry, model_keys: Sequence[str], actor: str) -> AliasedInputs:
    """The audited aliases of ``model_keys``, the unaudited moves (recorded by ``actor`` and noted), or the
    registry's error when it cannot be read (noted: non-model methods only)."""
    out = AliasedInputs()
    try:
        out.aliases = {key: registry.aliases(key) for key in model_keys}
        out.unaudited = [move for key in model_keys for move in registry.unaudited_moves(key)]
    except RegistryUnavailable as exc:
        out.registry_error = str(exc)
        out.notes.append(f"{exc}: non-model methods only")
        return out
    if out.unaudited and registry.audit is not None:
        record_unaudited(registry.audit, out.unaudited, actor, pd.Timestamp.now(tz="UTC").isoformat())
    out.notes += [move.describe() for move in out.unaudited]
    return out


def aliased_model_inputs(registry: ModelRegistry, daily: pd.DataFrame, model_keys: Sequence[str],
                         override_log: Path | str | None = None, n_scenarios: int = N_SCENARIOS,
                         actor: str = "risk assessment", loaded: dict | None = None) -> AliasedInputs:
    """One :class:`ModelInputs` per alias that at least one model carries (each version loaded once). When the
    registry cannot be read (or lost the versions the audit log moved aliases to), no model inputs, the error in
    ``registry_error`` and a note: risk still runs on the non-model methods, and the caller fails a check.
    Aliases moved outside the audited path are refused (the audited version is used, or none), listed in
    ``unaudited`` and recorded in the audit log by ``actor`` (once per move). ``loaded``: a caller's cache."""
    out = read_aliases(registry, model_keys, actor)
    if out.registry_error is not None:
        return out
    regime = current_regime(daily)
    asof = pd.Timestamp(daily["date"].max())
    ewma_vol_today = np.sqrt(historical_norms(daily, asof)["ewma_variance"])  # tomorrow's EWMA forecast
    cache: dict[tuple[str, str], LoadedModel | None] = loaded if loaded is not None else {}

    def load(key: str, alias: str) -> LoadedModel | None:
        version = out.aliases.get(key, {}).get(alias)  # a key not asked for carries no alias
        if version is None:
            return None
        if (key, version) not in cache:
            cache[(key, version)] = load_or_note(registry, key, alias, out.notes)
        return cache[(key, version)]

    for alias in ALIASES:
        lstm, gnn = load("lstm_vol", alias), load("gnn_corr", alias)
        gan, vae = load("gan_scenarios", alias), load("vae_scenarios", alias)
        if not any((lstm, gnn, gan, vae)):
            continue
        versions: dict[str, str] = {}
        symbols: list[str] | None = None
        vols = correlation = probability = None
        if lstm is not None:
            forecasts = lstm_outputs(lstm, daily)
            symbols = list(forecasts.index)
            guard = check_forecasts(forecasts["variance"], daily, asof, model="lstm_vol", version=lstm.version)
            accepted = accepted_overrides(OverrideLog(override_log), model="lstm_vol", version=lstm.version,
                                          asof=asof)
            usable = limit_inputs(guard, accepted)
            variance = pd.Series({**usable.variance, **usable.baseline})  # excluded series fall back to EWMA
            vols = np.sqrt(variance.reindex(symbols).to_numpy(dtype=float))
            if usable.excluded:
                out.notes.append(f"{alias}: LSTM v{lstm.version} forecasts above twice their norm, not accepted by"
                                 f" a human, replaced by EWMA: {', '.join(usable.excluded)}")
            out.guardrails.append({"alias": alias, "version": lstm.version, "flagged": guard.flagged,
                                   "excluded": list(usable.excluded), "overridden": list(usable.overridden)})
            unseen = sorted(forecasts.index[~forecasts["seen_in_training"]])
            if unseen:
                out.notes.append(f"{alias}: LSTM v{lstm.version} forecasts {', '.join(unseen)} zero-shot (series not"
                                 " in its training)")
            probability = {r: float(forecasts[f"p_{r}"].median()) for r in REGIMES}
            versions["vols"] = versions["regime"] = f"lstm_vol v{lstm.version}"
        if gnn is not None:
            gnn_symbols = list(gnn.metadata["symbols"])
            corr = pd.DataFrame(gnn_correlation(gnn, daily), index=gnn_symbols, columns=gnn_symbols)
            symbols = symbols or gnn_symbols
            correlation = corr.reindex(index=symbols, columns=symbols).to_numpy()
            versions["correlation"] = f"gnn_corr v{gnn.version}"
        scenarios, stress = {}, {}
        for name, loaded in (("gan", gan), ("vae", vae)):
            if loaded is None:
                continue
            gen_symbols = list(loaded.metadata["symbols"])
            symbols = symbols or gen_symbols
            volatility = ewma_vol_today.reindex(gen_symbols).to_numpy(dtype=float)
            if not np.all(np.isfinite(volatility) & (volatility > 0)):
                volatility = None
                out.notes.append(f"{alias}: {loaded.name} v{loaded.version} scenarios use the regime's volatility"
                                 " state (a series has no EWMA volatility today)")
            scenarios[name] = covering(generated(loaded, regime, n_scenarios, seed=0, volatility=volatility),
                                       gen_symbols, symbols, loaded, alias, out.notes)
            stress[name] = covering(generated(loaded, STRESS_REGIME, n_scenarios, seed=1), gen_symbols, symbols,
                                    loaded, alias)
            versions[name] = f"{loaded.name.removeprefix('risk_platform-')} v{loaded.version}"
        out.inputs.append(ModelInputs(label=alias, symbols=tuple(symbols or ()), vols=vols, correlation=correlation,
                                      scenarios=scenarios, stress_scenarios=stress, regime_probability=probability,
                                      versions=versions, trained_through=trained_through((lstm, gnn, gan, vae))))
    if not out.inputs:
        out.notes.append("no registered model version carries an alias: non-model methods only")
    return out
