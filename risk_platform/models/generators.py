"""Stress-scenario generators: a conditional Wasserstein GAN with gradient penalty, a conditional VAE, and a
filtered-historical-simulation (FHS) bootstrap baseline.

Data: the joint one-day return vector of the ``k`` series on every day on which all of them have a return
(log returns; basis-point changes for yields), conditioned on that day's market regime (``low``, ``normal``,
``high``; :data:`~risk_platform.models.datasets.REGIME_INDEX`).

Model (``devolatilise=True``, the default): a return is a volatility state times a shock,
``r = sigma * e`` per series, as in filtered historical simulation. The networks learn the joint law of the
devolatilised shocks ``e_t = r_t / sigma_t-1`` (``sigma_t-1``: each series' EWMA(0.94) volatility on its
previous row, point in time), conditioned on the regime; the shocks are close to stationary, so every
training day informs them. The volatility of a scenario is either given (the one-day-ahead forecast: today's
EWMA volatilities, an input of the registered model, as filtered historical simulation scales historical
shocks) or drawn from :class:`RegimeVolPrior` (stress scenarios: what a day of the regime looks like), a
log-normal law of the k-vector ``sigma`` fitted per regime (closed form, on the training days of that regime).
The heavy tails of stress-regime returns come from this scale mixture (days of very different volatility in
one regime) on top of the shocks' own tails, which the location-scale output layer draws with multivariate
Student-t noise (``noise_df``: one mixing variable per scenario shared by all series, so large shocks coincide
across assets; :class:`LocationScaleDecoder`). A generator trained on standardized returns alone must learn the
mixture from a few hundred stress days and understates the portfolio tails (VaR/ES 10-27% low in-sample).
The volatility draw is independent of the shock, which the data are not: the EWMA's estimation error widens
both the spread of ``sigma`` across a regime's days and the tails of ``e``, so an independent draw of the two
overstates the regime's return variance (real shocks times real volatilities of the bundled data, drawn
independently: +12-22% on average over series, in every regime) and more so its tails (equal-weight ES97.5 of
the high regime +15-18%). With ``match_variance`` (the default) the prior's dispersion is scaled per series and
regime so that the scenarios have the real returns' second moment (:func:`dispersion_scale`).
With ``moment_calibration`` (the default), a fitted affine map per regime (:class:`MomentCalibration`) then
gives the generated shocks the mean and covariance of the real training shocks of that regime: the networks
shape the law (tails, asymmetry, non-linear dependence), the data anchor its first two moments. Short demo
trainings otherwise land on cross-asset correlations that vary with the seed (stress-regime VaR of an
equal-weight book 4-16% low across seeds; 1-5% with the calibration).
With ``devolatilise=False`` the networks learn per-series standardized returns directly (the former model).
Either standardisation (fitted on the training rows only) travels with the weights inside
:class:`ScenarioSampler`, the object logged to MLflow, whose output is in original units.

Many series (more than ``factor_space_above``, :meth:`GeneratorConfig.factors_for`): the networks learn the K
standardized factor scores of a point-in-time :class:`FactorModel` of the shocks (PCA of the training rows) and
each scenario adds a per-series residual (a smoothed bootstrap of that series' training residuals); the moment
calibration is K x K and the volatility prior takes a factor form (:class:`RegimeVolPrior`), so memory is O(k K)
and a draw O(K^2 + k K): no k x k matrix.

Layout (Lightning template): plain ``nn.Module`` building blocks (:class:`ConditionalMLP`,
:class:`LocationScaleDecoder`), LightningModules holding the training loops (:class:`GANModule` with manual
optimization, :class:`VAEModule`), a :class:`ScenarioDataModule`, and the callables :func:`train_gan` and
:func:`train_vae`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.special import ndtr, ndtri
from sklearn.covariance import ledoit_wolf
from sklearn.utils.extmath import randomized_svd
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

from risk_platform.errors import InputError
from risk_platform.models.datasets import (
    REGIME_INDEX,
    Standardizer,
    check_finite,
    complete_days,
    market_regime,
    wide_feature,
)
from risk_platform.models.sampler_inputs import regime_index, scenario_inputs
from risk_platform.models.training import make_trainer, seed_everything, stopped_by_time_budget, torch_threads
from risk_platform.regime import REGIMES

DateLike = str | date | pd.Timestamp | None
N_REGIMES = len(REGIMES)
LOGVAR_MIN, LOGVAR_MAX = -8.0, 4.0  # decoder log-variance bounds, in standardized units
DISPERSION_SCALE_MAX = 1.5  # bound of the volatility prior's variance-matching factor (dispersion_scale)


# --------------------------------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class ScenarioRows:
    """Joint return vectors with their regime, oldest first.

    ``returns``: (n, k) float64 in original units (log return, or bp change for yields); ``regime``: (n,)
    int64 regime index; ``dates``: (n,) dates; ``symbols``: the k column names (sorted).
    """

    dates: pd.DatetimeIndex
    symbols: list[str]
    returns: np.ndarray
    regime: np.ndarray

    def __len__(self) -> int:
        return len(self.dates)

    def regime_counts(self) -> dict[str, int]:
        counts = np.bincount(self.regime, minlength=N_REGIMES)
        return {name: int(counts[i]) for name, i in REGIME_INDEX.items()}

    def select(self, mask: np.ndarray) -> ScenarioRows:
        return ScenarioRows(self.dates[mask], self.symbols, self.returns[mask], self.regime[mask])


def _as_timestamp(value: DateLike) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value)


def scenario_rows(daily: pd.DataFrame, start: DateLike = None, end: DateLike = None) -> ScenarioRows:
    """Complete-day return vectors of ``daily`` (the ``daily_features`` table) with a known market regime,
    restricted to ``start <= date <= end`` (either bound optional). NaN/inf returns raise InputError."""
    returns = complete_days(wide_feature(daily, "ret"))
    regime = market_regime(daily).reindex(returns.index)
    keep = np.array(regime.isin(REGIMES), dtype=bool)
    lo, hi = _as_timestamp(start), _as_timestamp(end)
    if lo is not None:
        keep &= returns.index >= lo
    if hi is not None:
        keep &= returns.index <= hi
    returns, regime = returns[keep], regime[keep]
    x = returns.to_numpy(dtype=np.float64)
    check_finite("daily_features.ret", x)
    idx = np.array(regime.map(REGIME_INDEX), dtype=np.int64)
    return ScenarioRows(pd.DatetimeIndex(returns.index), [str(s) for s in returns.columns], x, idx)


def devolatilised_rows(daily: pd.DataFrame, end: DateLike = None, backfill: bool = False
                       ) -> tuple[ScenarioRows, np.ndarray]:
    """The complete-day rows up to ``end`` on which every series has a positive previous-day EWMA volatility,
    and those volatilities ``sigma_t-1`` (n, k), same units as the returns (:func:`previous_day_vol`).

    ``backfill``: a series' first rows, before its EWMA is seeded, take its first EWMA volatility (a scale
    for training rows only, not point in time; keeps the first complete days of a late-starting series).
    """
    rows = scenario_rows(daily, end=end)
    vol = previous_day_vol(daily)
    vol = vol.bfill() if backfill else vol
    sigma = vol.reindex(index=rows.dates, columns=rows.symbols).to_numpy(dtype=np.float64)
    usable = np.all(np.isfinite(sigma) & (sigma > 0), axis=1)
    return rows.select(usable), sigma[usable]


def validate_training_rows(rows: ScenarioRows, min_rows: int, min_regime_rows: int, what: str) -> None:
    """Raise InputError (one line) when there are too few training rows overall or in any regime."""
    window = "no rows" if len(rows) == 0 else f"{rows.dates[0].date()}..{rows.dates[-1].date()}"
    if len(rows) < min_rows:
        raise InputError(f"{what}: {len(rows)} complete-day training rows ({window}), at least {min_rows} needed")
    thin = {name: n for name, n in rows.regime_counts().items() if n < min_regime_rows}
    if thin:
        listed = ", ".join(f"{name}={n}" for name, n in thin.items())
        raise InputError(f"{what}: too few training rows in regime {listed} ({window}), at least "
                         f"{min_regime_rows} per regime needed")


class ScenarioDataModule(L.LightningDataModule):
    """Serves ``(x, regime)`` batches: ``x`` (batch, width) float32 standardized targets, ``regime`` (batch,)
    int64; ``width`` is k, the series, or, with ``n_factors`` K > 0, the K standardized factor scores of a
    :class:`FactorModel` fitted on the training rows only (the networks then learn the factors' joint law).

    Built eagerly from ``daily_features`` so that bad input fails before any training: training rows are
    the complete days with ``date <= train_end`` (all when None). Targets: the returns or, with
    ``devolatilise``, the shocks ``returns / sigma`` (``sigma``: previous-day EWMA volatility, back-filled
    over a series' EWMA warm-up, :func:`devolatilised_rows`); the :class:`Standardizer` is fitted on the
    training targets only.
    ``balance_regimes`` draws rows with weights inversely proportional to their regime's size (same number
    of draws per epoch), so the rarer high-volatility regime is seen as often as the others.
    """

    def __init__(self, daily: pd.DataFrame, train_end: DateLike = None, batch_size: int = 128, seed: int = 0,
                 balance_regimes: bool = False, min_rows: int = 200, min_regime_rows: int = 20,
                 devolatilise: bool = True, n_factors: int = 0, residual_knots: int = 65) -> None:
        super().__init__()
        self.train_end = _as_timestamp(train_end)
        if devolatilise:
            self.rows, sigma = devolatilised_rows(daily, self.train_end, backfill=True)
            self.sigma: np.ndarray | None = sigma
        else:
            self.rows, self.sigma = scenario_rows(daily, end=self.train_end), None
        validate_training_rows(self.rows, min_rows, min_regime_rows, "scenario generator")
        self.targets = self.rows.returns if self.sigma is None else self.rows.returns / self.sigma
        self.standardizer = Standardizer.fit(self.targets)
        self.batch_size = batch_size
        self.seed = seed
        self.balance_regimes = balance_regimes
        x = self.standardizer.transform(self.targets)
        self.factors: FactorModel | None = None
        if n_factors > 0:
            self.factors, x = FactorModel.fit(x, n_factors, residual_knots)
        self.model_targets = x  # (n, width) float64: what the networks learn (series or factor scores)
        self.dataset = TensorDataset(torch.as_tensor(x, dtype=torch.float32),
                                     torch.as_tensor(self.rows.regime, dtype=torch.int64))

    @property
    def symbols(self) -> list[str]:
        return self.rows.symbols

    @property
    def n_features(self) -> int:
        """Width of the networks' input and output: k series, or K factors in factor space."""
        return self.model_targets.shape[1]

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        batch = min(self.batch_size, len(self.dataset))
        if self.balance_regimes:
            counts = np.bincount(self.rows.regime, minlength=N_REGIMES).astype(float)
            weights = torch.as_tensor(1.0 / counts[self.rows.regime], dtype=torch.double)
            sampler = WeightedRandomSampler(weights, len(weights), replacement=True, generator=generator)
            return DataLoader(self.dataset, batch_size=batch, sampler=sampler, drop_last=True)
        return DataLoader(self.dataset, batch_size=batch, shuffle=True, generator=generator, drop_last=True)


# ------------------------------------------------------------------------------------------ nn.Modules


class ConditionalMLP(nn.Module):
    """MLP on ``[inputs, onehot(regime)]``: (n, in_dim), (n, n_regimes) -> (n, out_dim), LeakyReLU(0.2)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int], n_regimes: int = N_REGIMES) -> None:
        super().__init__()
        sizes = [in_dim + n_regimes, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(sizes[-1], out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, inputs: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([inputs, condition], dim=1))


class ConditionalGaussianPrior(nn.Module):
    """Learned prior ``p(z | regime) = N(loc_c, diag(exp(log_scale_c))^2)`` of the VAE latent, one per regime.

    ``forward(noise, condition)``: standard normal noise (n, latent_dim), one-hot (n, 3) -> z (n, latent_dim).
    """

    def __init__(self, latent_dim: int, n_regimes: int = N_REGIMES) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(n_regimes, latent_dim))
        self.log_scale = nn.Parameter(torch.zeros(n_regimes, latent_dim))

    def moments(self, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prior mean and log-variance per row, each (n, latent_dim)."""
        return condition @ self.loc, 2.0 * (condition @ self.log_scale)

    def forward(self, noise: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return condition @ self.loc + torch.exp(condition @ self.log_scale) * noise


class LocationScaleDecoder(nn.Module):
    """A location-scale generator: ``decoder(z, c)`` gives a mean and a log scale^2 per dimension, (n, 2k), and
    the output is ``mean + exp(logvar / 2) * t`` (n, k), standardized units, with ``z = prior(u, c)`` (``z = u``
    without a prior). The VAE decoder, and the GAN generator when ``location_scale``.

    Observation noise ``t``: Gaussian ``eps`` when ``df`` is None; else multivariate Student-t with ``df``
    degrees of freedom, ``t = eps / sqrt(w)``, ``w = chi2_df / df`` one per row, common to all k series: joint
    crash days (tail dependence) that independent per-series noise cannot give. ``w`` is drawn exactly as the
    mean of ``df`` squared standard normals, so the input noise stays standard normal:
    ``noise = [u (latent_dim), eps (k), chi (df)]``.
    """

    def __init__(self, decoder: ConditionalMLP, latent_dim: int, prior: ConditionalGaussianPrior | None = None,
                 df: int | None = None) -> None:
        super().__init__()
        self.decoder = decoder
        self.prior = prior
        self.latent_dim = latent_dim
        self.df = df

    def noise_dim(self, k: int) -> int:
        """Input noise width for k output series."""
        return self.latent_dim + k + (self.df or 0)

    def negative_log_likelihood(self, x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Per-row ``-log p(x | mean, scale)`` (n,) of the observation noise law (Gaussian or multivariate t)."""
        k = x.shape[1]
        quad = ((x - mean) ** 2 * torch.exp(-logvar)).sum(dim=1)
        if self.df is None:
            return 0.5 * (logvar.sum(dim=1) + quad + k * np.log(2 * np.pi))
        nu = float(self.df)
        const = math.lgamma(nu / 2) - math.lgamma((nu + k) / 2) + 0.5 * k * math.log(nu * math.pi)
        return const + 0.5 * logvar.sum(dim=1) + 0.5 * (nu + k) * torch.log1p(quad / nu)

    def moments(self, z: torch.Tensor, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and clamped log-variance given the latent ``z``, each (n, k)."""
        mean, logvar = self.decoder(z, condition).chunk(2, dim=1)
        return mean, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def forward(self, noise: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        u, eps = noise[:, : self.latent_dim], noise[:, self.latent_dim:]
        if self.df is not None:
            eps, chi = eps[:, : -self.df], eps[:, -self.df:]
            eps = eps * torch.rsqrt((chi**2).mean(dim=1, keepdim=True))
        z = u if self.prior is None else self.prior(u, condition)
        mean, logvar = self.moments(z, condition)
        return mean + torch.exp(0.5 * logvar) * eps


class RegimeVolPrior(nn.Module):
    """Volatility state of a scenario: ``log sigma | regime c ~ N(loc_c, S_c)``, a k-vector.

    Fitted in closed form (:meth:`fit`) on the log previous-day EWMA volatilities of the training days of each
    regime: the mean, and a covariance that keeps the common movement of volatilities across series. Dense
    (``n_factors`` 0): a Ledoit-Wolf shrunk covariance (well conditioned with fewer days than series), drawn
    through its Cholesky factor, buffer ``chol`` (3, k, k). Factor (``n_factors`` K > 0, for large k): K
    principal factors plus a diagonal, ``S_c = L_c L_c^T + diag(idio_c^2)`` with the sample variance of each
    series on the diagonal, buffers ``loadings`` (3, k, K) and ``idio`` (3, k): memory and draws O(k K), no
    k x k matrix. Given the returns, each series' deviations are scaled to match its return variance
    (:func:`dispersion_scale`; correlations unchanged). Buffer ``loc`` (3, k) in both.
    ``forward(noise, condition)``: standard normal (n, :attr:`noise_dim`: k, or K + k), one-hot (n, 3) ->
    sigma (n, k) > 0, same units as the returns.
    """

    def __init__(self, k: int, n_factors: int = 0, n_regimes: int = N_REGIMES) -> None:
        super().__init__()
        self.n_factors = int(n_factors)
        self.register_buffer("loc", torch.zeros(n_regimes, k))
        if self.n_factors:
            self.register_buffer("loadings", torch.zeros(n_regimes, k, self.n_factors))
            self.register_buffer("idio", torch.ones(n_regimes, k))
        else:
            self.register_buffer("chol", torch.eye(k).repeat(n_regimes, 1, 1))
        self.dispersion: dict[str, float] = {}

    @property
    def noise_dim(self) -> int:
        """Standard normal inputs per scenario: k, or K + k in factor form."""
        return self.n_factors + self.loc.shape[1]

    @classmethod
    def fit(cls, sigma: np.ndarray, regime: np.ndarray, returns: np.ndarray | None = None,
            n_factors: int = 0) -> RegimeVolPrior:
        """From volatilities (n, k) > 0 and regime indices (n,), every regime present (2+ days). With the
        ``returns`` (n, k) of those days, each series' log-volatility dispersion is matched to its returns
        (:func:`dispersion_scale`; its mean over series per regime in ``dispersion``). ``n_factors``: 0 dense,
        K > 0 the factor form (see the class docstring)."""
        prior = cls(sigma.shape[1], n_factors)
        log_sigma = np.log(sigma)
        for c in range(N_REGIMES):
            days = regime == c
            loc = log_sigma[days].mean(axis=0)
            if n_factors:
                centred = log_sigma[days] - loc
                variance = centred.var(axis=0, ddof=1)
                loadings = principal_factors(centred, n_factors)
                idio = np.sqrt(np.clip(variance - (loadings**2).sum(axis=1), 0.0, None))
            else:
                covariance, _ = ledoit_wolf(log_sigma[days])
                variance, chol = np.diag(covariance), np.linalg.cholesky(covariance)
            scale = np.ones_like(loc)
            if returns is not None:
                scale = dispersion_scale(returns[days], sigma[days], loc, variance)
                prior.dispersion[REGIMES[c]] = float(scale.mean())
            prior.loc[c] = torch.as_tensor(loc)
            if n_factors:
                prior.loadings[c] = torch.as_tensor(scale[:, None] * loadings)
                prior.idio[c] = torch.as_tensor(scale * idio)
            else:
                prior.chol[c] = torch.as_tensor(scale[:, None] * chol)
        return prior

    def forward(self, noise: torch.Tensor, condition: torch.Tensor, anchor: torch.Tensor | None = None,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        """``anchor`` (n, k) log volatilities and ``weight`` (n, 1) in [0, 1]: ``log sigma`` moves from the regime
        draw (weight 0) to the anchor (weight 1: a given volatility, e.g. today's EWMA)."""
        if self.n_factors:  # (n, k) temporaries updated in place: memory traffic dominates at large k
            common, own = noise[:, : self.n_factors], noise[:, self.n_factors:]
            log_sigma = per_regime_product(common, condition, self.loadings.transpose(1, 2))
            log_sigma = log_sigma.addcmul_(condition @ self.idio, own).add_(condition @ self.loc)
        else:
            log_sigma = condition @ self.loc + per_regime_product(noise, condition, self.chol.transpose(1, 2))
        if anchor is not None and weight is not None:
            log_sigma = log_sigma + weight * (anchor - log_sigma)
        return torch.exp(log_sigma)


def dispersion_scale(returns: np.ndarray, sigma: np.ndarray, loc: np.ndarray, variance: np.ndarray,
                     max_scale: float = DISPERSION_SCALE_MAX) -> np.ndarray:
    """Per-series factor (k,) on the log-volatility deviations of one regime's :class:`RegimeVolPrior`, so that
    a scenario ``sigma * e`` (shock independent of the volatility draw) has the second moment of the regime's
    real returns: ``E[e_i^2] exp(2 loc_i + 2 s_i^2 v_i) = E[r_i^2]``, solved for ``s_i``, clipped to
    ``[0, max_scale]``. ``returns``, ``sigma`` (m, k): the regime's days and their previous-day volatilities
    (``e = r / sigma``); ``loc``, ``variance`` (k,): mean and variance of ``log sigma``.

    Why: the EWMA volatility estimates the true one with an error, which shows twice in an independent draw:
    in the spread of ``sigma`` across the regime's days and in the tails of ``e = r / sigma``. Drawn
    independently, the two overstate the regime's return variance (by 12-22% on average over the bundled series
    at full dispersion) and more so its tails. ``E[e_i^2]`` is the real shocks' sample moment: the generated shocks
    carry it up to the Ledoit-Wolf shrinkage of :class:`MomentCalibration`, so the match is close, not exact.
    A series without any move in the regime (undefined moments) keeps its fitted dispersion (factor 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        shock_moment = np.mean((returns / sigma) ** 2, axis=0)
        target = 0.5 * np.log(np.mean(returns**2, axis=0) / shock_moment) - loc  # s_i^2 v_i
        ratio = target / variance
    return np.where(np.isfinite(ratio), np.sqrt(np.clip(ratio, 0.0, max_scale**2)), 1.0)


class MomentCalibration(nn.Module):
    """Affine second-moment matching of the generated shocks per regime c (standardized units):
    ``e' = (e - m_gen_c) W_c + m_real_c`` with ``W_c = S_gen_c^(-1/2) S_real_c^(1/2)`` (symmetric square
    roots), so that ``Cov(e') = S_real_c`` exactly when ``S_gen_c`` is the generator's covariance. Fitted after
    training (:meth:`fit`) from 50,000 draws of the trained core per regime against the regime's real training
    shocks (mean, Ledoit-Wolf covariance). Buffers ``mean_gen``, ``mean_real`` (3, k) and ``weight`` (3, k, k)
    travel in the state_dict; ``forward(shocks (n, k), one-hot (n, 3)) -> (n, k)`` is pure tensor algebra."""

    def __init__(self, k: int, n_regimes: int = N_REGIMES) -> None:
        super().__init__()
        self.register_buffer("mean_gen", torch.zeros(n_regimes, k))
        self.register_buffer("mean_real", torch.zeros(n_regimes, k))
        self.register_buffer("weight", torch.eye(k).repeat(n_regimes, 1, 1))

    @classmethod
    def fit(cls, core: nn.Module, core_dim: int, real: np.ndarray, regime: np.ndarray, n: int = 50_000,
            seed: int = 0) -> tuple[MomentCalibration, dict[str, float]]:
        """From the trained ``core`` and the real standardized shocks ``real`` (m, k) with regime indices (m,).
        Also returns, per regime, the relative Frobenius gap ``|S_gen - S_real| / |S_real|`` before calibration
        (``moment_gap_<regime>``): how far the raw generator's covariance was from the data's."""
        k = real.shape[1]
        calibration = cls(k)
        gaps: dict[str, float] = {}
        generator = torch.Generator().manual_seed(seed)
        for c, name in enumerate(REGIMES):
            condition = torch.zeros(n, N_REGIMES)
            condition[:, c] = 1.0
            with torch.no_grad():
                generated = core(torch.randn(n, core_dim, generator=generator), condition).double().numpy()
            observed = real[regime == c]
            s_gen, (s_real, _) = np.cov(generated, rowvar=False), ledoit_wolf(observed)
            calibration.weight[c] = torch.as_tensor(_sym_sqrt(s_gen, -0.5) @ _sym_sqrt(s_real, 0.5))
            calibration.mean_gen[c] = torch.as_tensor(generated.mean(axis=0))
            calibration.mean_real[c] = torch.as_tensor(observed.mean(axis=0))
            gaps[f"moment_gap_{name}"] = float(np.linalg.norm(s_gen - s_real) / np.linalg.norm(s_real))
        return calibration, gaps

    def forward(self, shocks: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        centred = shocks - condition @ self.mean_gen
        return condition @ self.mean_real + per_regime_product(centred, condition, self.weight)


def per_regime_product(x: torch.Tensor, condition: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Row i of ``x`` (n, k) times the matrix of its regime, ``matrices[c]`` (3, k, m), for one-hot ``condition``
    (n, 3), in one product: each row is placed in its regime's slot of an (n, 3k) array, times the stacked
    (3k, m) matrices (no per-row gather; torch.export-able) -> (n, m)."""
    routed = (condition.unsqueeze(2) * x.unsqueeze(1)).reshape(x.shape[0], -1)
    return routed @ matrices.reshape(-1, matrices.shape[-1])


def principal_factors(centred: np.ndarray, n_factors: int, seed: int = 0) -> np.ndarray:
    """Loadings (k, K) of the K principal components of ``centred`` (m, k) (columns of mean zero): eigenvectors of
    the sample covariance times the square roots of their eigenvalues (ddof 1), so ``L L^T`` is the covariance's
    best rank-K part. Randomized SVD (seeded; O(m k K), no k x k matrix); with fewer than K + 1 rows or k < K
    the missing components are zero columns."""
    m, k = centred.shape
    rank = min(n_factors, m - 1, k)
    loadings = np.zeros((k, n_factors))
    if rank > 0:
        _, values, vectors = randomized_svd(centred, rank, random_state=seed)
        loadings[:, :rank] = vectors.T * (values / np.sqrt(m - 1))
    return loadings


class FactorModel(nn.Module):
    """A point-in-time statistical factor model of the standardized shocks ``x`` (n, k) of many series:
    ``x = g B^T + u``, fitted on the training rows only (:meth:`fit`).

    ``B`` (buffer ``loadings``, (k, K)): the K principal components of the training rows' ``x`` (the devolatilised,
    standardized returns; :func:`principal_factors`), so the factor scores ``g = x B / diag(B^T B)`` (n, K) have
    unit variance: the networks learn the joint, regime-conditional law of ``g``. ``u``: each series' residual,
    drawn independently of the factors and of the other series, from a per-series smoothed bootstrap of its
    training residuals: the empirical quantile function of series i tabulated at ``knots`` normal scores evenly
    spaced on ``[-z_max, z_max]`` (buffer ``residual_quantiles`` (k, knots); ``z_max = Phi^-1(1 - 1/(2m))``, m
    training rows: about the range of normal scores that m draws cover), read at a standard normal draw by linear
    interpolation and clamped at the ends, so a residual never exceeds the series' training extremes. Why a
    bootstrap, not a fitted law: the residuals keep their own skew and tails (a crash day's residual stays in the
    table) without a tail-index estimate per series; the table is O(k knots) against O(m k) for the raw rows.
    Cross-series dependence beyond the K factors, and the regime dependence of the residuals, are not modelled.

    ``forward(factor_shocks (n, K), noise (n, k))`` -> standardized shocks (n, k); O(n k K), memory O(k (K + knots)).
    """

    def __init__(self, k: int, n_factors: int, knots: int) -> None:
        super().__init__()
        if n_factors < 1 or knots < 2:
            raise InputError(f"factor model: need at least 1 factor and 2 residual knots, got {n_factors} and {knots}")
        self.register_buffer("loadings", torch.zeros(k, n_factors))
        self.register_buffer("residual_quantiles", torch.zeros(k, knots))
        self.register_buffer("z_max", torch.tensor(1.0))

    @property
    def n_factors(self) -> int:
        return self.loadings.shape[1]

    @classmethod
    def fit(cls, x: np.ndarray, n_factors: int, knots: int) -> tuple[FactorModel, np.ndarray]:
        """From the training rows' standardized shocks ``x`` (m, k), mean zero per column: the model and the
        factor scores of those rows (m, K)."""
        m, k = x.shape
        model = cls(k, n_factors, knots)
        loadings = principal_factors(x, n_factors)
        model.loadings.copy_(torch.as_tensor(loadings))
        scores = model.scores(x)
        residuals = x - scores @ loadings.T
        z_max = float(ndtri(1.0 - 0.5 / m))
        levels = ndtr(np.linspace(-z_max, z_max, knots))
        model.residual_quantiles.copy_(torch.as_tensor(np.quantile(residuals, levels, axis=0).T))
        model.z_max.fill_(z_max)
        return model, scores

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Factor scores (n, K) of standardized shocks (n, k): least squares on the loadings (orthogonal columns)."""
        loadings = self.loadings.double().numpy()
        variance = (loadings**2).sum(axis=0)
        return x @ loadings / np.where(variance > 0, variance, 1.0)

    def explained_share(self) -> float:
        """Share of the standardized shocks' total variance (k: unit variance per series) the factors carry."""
        return float((self.loadings.double() ** 2).sum() / self.loadings.shape[0])

    def residual(self, noise: torch.Tensor) -> torch.Tensor:
        """Idiosyncratic residuals (n, k) from standard normal ``noise`` (n, k): each series' quantile table read
        at the noise's normal score (linear interpolation, clamped at the ends).

        One ``grid_sample`` pass (a third of the time of two gathers): the table is an image of 2k rows (each
        series' row twice) and ``knots`` columns; x = noise / z_max (the knots span [-1, 1], ``border`` clamps),
        y = midway between a series' two identical rows, so the vertical blend never mixes two series."""
        n, k = noise.shape
        image = self.residual_quantiles.repeat_interleave(2, dim=0)[None, None]  # (1, 1, 2k, knots)
        rows = (4.0 * torch.arange(k, device=noise.device, dtype=noise.dtype) + 1.0) / (2 * k - 1) - 1.0
        grid = torch.stack([noise / self.z_max, rows.expand(n, k)], dim=-1)[None]  # (1, n, k, 2)
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)[0, 0]

    def forward(self, factor_shocks: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.residual(noise).addmm_(factor_shocks, self.loadings.T)


def _sym_sqrt(matrix: np.ndarray, power: float) -> np.ndarray:
    """``matrix ** power`` of a symmetric positive semi-definite matrix (eigenvalues floored at 1e-12)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.clip(values, 1e-12, None) ** power) @ vectors.T


def one_hot(regime: torch.Tensor) -> torch.Tensor:
    """(n,) int64 regime index -> (n, 3) float32 one-hot."""
    return F.one_hot(regime, N_REGIMES).to(torch.float32)


class ScenarioSampler(nn.Module):
    """A trained generator in original units: the object logged to MLflow (its ``state_dict`` carries the
    weights, the per-series ``mean``/``std`` buffers of the training standardisation, when devolatilised the
    :class:`RegimeVolPrior` buffers ``vol.loc`` and ``vol.chol`` (or ``vol.loadings``/``vol.idio``) and, in factor
    space, the :class:`FactorModel` buffers ``factors.loadings``/``factors.residual_quantiles``/``factors.z_max``).

    ``forward(inputs)``: ``inputs`` (n, :attr:`input_dim`) float32 = ``[noise, onehot(regime)]`` with standard
    normal noise, followed when devolatilised by ``[log_vol (k), weight (1)]`` -> (n, k) one-day returns in
    original units (log returns; bp changes for yields), columns in ``symbols`` order:
    ``calibration(core(noise_core, c), c) * std + mean`` (no calibration: the core's output as it is), times
    ``vol(noise_vol, c, log_vol, weight)`` when devolatilised: weight 0 draws the volatility state of the
    regime (stress scenarios: what a day of that regime looks like), weight 1 uses ``exp(log_vol)`` (the
    one-day-ahead forecast: today's volatility times generated shocks, as filtered historical simulation does).
    ``noise = [noise_core, noise_idio, noise_vol]``: ``noise_core`` (``core_dim``) is ``[u, eps]`` for a
    location-scale core (the VAE decoder, the GAN by default: latent noise, then the observation noises of its
    k series or K factors) or the latent ``z`` alone for the plain GAN generator; ``noise_idio`` (k, factor space
    only) draws each series' residual around the K factors (:class:`FactorModel`: the core's output are factor
    shocks, ``factors(core, noise_idio)`` the series' shocks); ``noise_vol`` (:attr:`RegimeVolPrior.noise_dim`,
    absent without ``vol``) draws the volatility state. All randomness is in the input: the forward is pure
    tensor operations (torch.export-able).
    """

    def __init__(self, core: nn.Module, core_dim: int, symbols: Sequence[str], mean: np.ndarray | None = None,
                 std: np.ndarray | None = None, vol: RegimeVolPrior | None = None,
                 calibration: MomentCalibration | None = None, factors: FactorModel | None = None) -> None:
        super().__init__()
        k = len(symbols)
        self.core = core
        self.vol = vol
        self.calibration = calibration
        self.factors = factors
        self.core_dim = int(core_dim)
        self.idio_dim = k if factors is not None else 0
        self.latent_dim = self.core_dim + self.idio_dim + (vol.noise_dim if vol is not None else 0)
        self.symbols = [str(s) for s in symbols]
        self.register_buffer("mean", torch.as_tensor(np.zeros(k) if mean is None else mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.ones(k) if std is None else std, dtype=torch.float32))

    @property
    def input_dim(self) -> int:
        """Width of the forward's input: noise, one-hot regime and, when devolatilised, log vol and weight."""
        return self.latent_dim + N_REGIMES + (len(self.symbols) + 1 if self.vol is not None else 0)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        at = self.latent_dim + N_REGIMES
        noise, condition = inputs[:, : self.latent_dim], inputs[:, self.latent_dim: at]
        shocks = self.core(noise[:, : self.core_dim], condition)
        if self.calibration is not None:
            shocks = self.calibration(shocks, condition)
        vol_from = self.core_dim + self.idio_dim
        if self.factors is not None:
            shocks = self.factors(shocks, noise[:, self.core_dim: vol_from])
        out = shocks * self.std + self.mean
        if self.vol is not None:
            k = len(self.symbols)
            out = out * self.vol(noise[:, vol_from:], condition, inputs[:, at: at + k], inputs[:, at + k:])
        return out

    @property
    def n_factors(self) -> int:
        """K factors the networks learn (factor space), 0 when they learn the series themselves."""
        return self.factors.n_factors if self.factors is not None else 0

    @torch.no_grad()
    def sample(self, n: int, regime: str, seed: int | None = None, volatility: np.ndarray | None = None
               ) -> np.ndarray:
        """``n`` scenarios of the given regime, shape (n, k), float64, original units; one batch, no grad.
        ``volatility`` (k,): the series' current volatilities (return units), to scale the generated shocks
        (devolatilised samplers only); None draws the regime's volatility state."""
        if volatility is not None and self.vol is None:
            raise InputError("this sampler learned returns, not devolatilised shocks: no volatility input")
        inputs = scenario_inputs(n, self.latent_dim, regime, len(self.symbols) if self.vol is not None else None,
                                 seed, volatility)
        was_training = self.training
        self.eval()
        try:
            out = self(inputs.to(self.mean.device))
        finally:
            self.train(was_training)
        return out.cpu().numpy().astype(np.float64)


# -------------------------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class GeneratorConfig:
    """Settings shared by both generators: ``train_end`` last training date (inclusive; None = all data),
    MLP ``hidden`` sizes, Adam ``lr``, ``balance_regimes`` (draw rows inversely to their regime's size),
    ``devolatilise`` (learn the shocks ``r / sigma_t-1`` and draw ``sigma`` from a :class:`RegimeVolPrior`;
    see the module docstring), ``noise_df`` (location-scale output noise: multivariate Student-t with these
    degrees of freedom, None = Gaussian; :class:`LocationScaleDecoder`), ``moment_calibration`` (match the
    generated shocks' mean and covariance to the real ones per regime after training; :class:`MomentCalibration`),
    ``match_variance`` (devolatilised only: the volatility prior's dispersion is scaled per series and regime so
    that the stress scenarios have the real returns' variance; :func:`dispersion_scale`),
    ``min_train_rows``/``min_regime_rows`` (below: InputError before training).

    Scale: with more than ``factor_space_above`` series the networks learn K = min(``n_factors``, k // 4) factor
    returns of a point-in-time :class:`FactorModel` (idiosyncratic residuals per series from ``residual_knots``
    quantiles of its training residuals) instead of the k series: cost and memory O(k K), never k x k (see
    :meth:`factors_for`). ``max_train_seconds``: training-time budget (Lightning ``max_time``; None = epochs
    only); a run it stops is recorded (metric ``stopped_by_time_budget``) and depends on the machine's speed."""

    seed: int = 0
    train_end: DateLike = None
    latent_dim: int = 16
    hidden: tuple[int, ...] = (128, 128)
    batch_size: int = 128
    max_epochs: int = 100
    lr: float = 1e-4
    balance_regimes: bool = True
    devolatilise: bool = True
    noise_df: int | None = 5
    moment_calibration: bool = True
    match_variance: bool = True
    min_train_rows: int = 200
    min_regime_rows: int = 20
    torch_threads: int | None = 1  # intra-op threads while training (tiny MLPs: 1 is fastest); None = leave
    factor_space_above: int = 64
    n_factors: int = 16
    residual_knots: int = 65
    max_train_seconds: float | None = None

    @property
    def rows_per_step(self) -> int:
        """Rows the DataModule serves per training step."""
        return self.batch_size

    def factors_for(self, n_series: int) -> int:
        """K factors the networks learn for ``n_series`` series: 0 (the series themselves) up to
        ``factor_space_above``, else ``min(n_factors, n_series // 4)`` (at least 1)."""
        if n_series <= self.factor_space_above:
            return 0
        return max(1, min(self.n_factors, n_series // 4))


@dataclass(frozen=True)
class GANConfig(GeneratorConfig):
    """Conditional WGAN-GP: ``n_critic`` critic updates per generator update, gradient penalty weight
    ``gp_weight``, Adam ``lr`` with ``betas``; ``location_scale``: the generator outputs a mean and a
    log-variance per series and samples ``mean + sigma * eps`` (a scale mixture, much fatter tails than a plain
    ``MLP(z ++ onehot) -> k`` trained as briefly)."""

    latent_dim: int = 16
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    n_critic: int = 5
    gp_weight: float = 10.0
    location_scale: bool = True

    @property
    def rows_per_step(self) -> int:
        """One step = ``n_critic`` critic updates on ``batch_size`` rows each, then one generator update."""
        return self.batch_size * self.n_critic

    @classmethod
    def demo(cls, **overrides: Any) -> GANConfig:
        """Small and fast: about 30 s on 2 idle CPU cores on the bundled data (~720 generator updates, Adam
        1e-3); at most 5 minutes of training on any universe (a guard ten times the usual time, so a loaded
        machine does not cut the demo short)."""
        settings: dict[str, Any] = dict(hidden=(128, 128), batch_size=128, max_epochs=120, lr=1e-3,
                                        max_train_seconds=300.0)
        return cls(**{**settings, **overrides})

    @classmethod
    def full(cls, **overrides: Any) -> GANConfig:
        """Real training (many minutes on CPU; ~9,000 generator updates); at most 30 minutes of training."""
        settings: dict[str, Any] = dict(hidden=(256, 256, 256), batch_size=128, max_epochs=1500, lr=2e-4,
                                        max_train_seconds=1800.0)
        return cls(**{**settings, **overrides})


@dataclass(frozen=True)
class VAEConfig(GeneratorConfig):
    """Conditional VAE with a location-scale decoder (learned per-dimension mean and log scale^2; Gaussian or,
    with ``noise_df``, multivariate Student-t observation noise); loss = NLL of that law + ``beta`` *
    KL(q(z|x,c) || p(z|c)) with a learned Gaussian prior per regime; Adam ``lr``."""

    latent_dim: int = 8
    lr: float = 1e-3
    beta: float = 1.0

    @classmethod
    def demo(cls, **overrides: Any) -> VAEConfig:
        """Small and fast: about 25 s on 2 idle CPU cores on the bundled data; at most 5 minutes of training on
        any universe (as :meth:`GANConfig.demo`)."""
        settings: dict[str, Any] = dict(hidden=(128, 128), latent_dim=16, batch_size=128, max_epochs=100, lr=2e-3,
                                        max_train_seconds=300.0)
        return cls(**{**settings, **overrides})

    @classmethod
    def full(cls, **overrides: Any) -> VAEConfig:
        """Real training (minutes on CPU); at most 20 minutes of training."""
        settings: dict[str, Any] = dict(hidden=(256, 256), latent_dim=16, batch_size=128, max_epochs=800, lr=5e-4,
                                        max_train_seconds=1200.0)
        return cls(**{**settings, **overrides})


# ----------------------------------------------------------------------------------- LightningModules


class _LossHistory(L.LightningModule):
    """Logs training losses per step (names start with ``train`` so the FiniteLossGuard sees them) and keeps
    their per-epoch means in ``history``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[dict[str, float]] = []
        self._sums: dict[str, list[float]] = {}

    def _record(self, **losses: torch.Tensor) -> None:
        for name, value in losses.items():
            self.log(name, value.detach(), on_step=True, on_epoch=False, prog_bar=False)
            self._sums.setdefault(name, []).append(float(value.detach()))

    def on_train_epoch_end(self) -> None:
        row = {"epoch": float(self.current_epoch)}
        row.update({name: float(np.mean(values)) for name, values in self._sums.items()})
        self.history.append(row)
        self._sums = {}


class GANModule(_LossHistory):
    """Conditional WGAN-GP training loop (manual optimization). Generator: ``MLP(z ++ onehot) -> k`` or, with
    ``location_scale``, a :class:`LocationScaleDecoder` (``MLP(z ++ onehot) -> (mean, logvar)`` per dimension,
    sample ``mean + sigma * t``, ``t`` Gaussian or multivariate t with ``noise_df``); critic:
    ``MLP(x ++ onehot) -> 1``. Batches: (x (b, k) standardized,
    regime (b,)) with ``b = n_critic * batch_size``."""

    def __init__(self, n_features: int, config: GANConfig) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.config = config
        if config.location_scale:
            decoder = LocationScaleDecoder(ConditionalMLP(config.latent_dim, 2 * n_features, config.hidden),
                                           config.latent_dim, df=config.noise_df)
            self.generator: nn.Module = decoder
            self.noise_dim = decoder.noise_dim(n_features)
        else:
            self.generator = ConditionalMLP(config.latent_dim, n_features, config.hidden)
            self.noise_dim = config.latent_dim
        self.critic = ConditionalMLP(n_features, 1, config.hidden)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        c = self.config
        return [torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=c.betas),
                torch.optim.Adam(self.critic.parameters(), lr=c.lr, betas=c.betas)]

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Mean of (||grad_x critic(x_hat)||_2 - 1)^2 on random interpolates x_hat of real and fake rows."""
        t = torch.rand(real.shape[0], 1, device=real.device)
        x_hat = (t * real + (1.0 - t) * fake).requires_grad_(True)
        score = self.critic(x_hat, condition)
        (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
        return ((grad.norm(2, dim=1) - 1.0) ** 2).mean()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """One generator update after ``n_critic`` critic updates, each on its own ``batch_size`` rows of the
        batch (the DataModule serves ``n_critic * batch_size`` rows per step)."""
        opt_g, opt_c = self.optimizers()
        for x, regime in zip(*(t.split(self.config.batch_size) for t in batch), strict=True):
            condition = one_hot(regime)
            fake = self.generator(self._noise(x), condition).detach()
            wasserstein = self.critic(x, condition).mean() - self.critic(fake, condition).mean()
            critic_loss = -wasserstein + self.config.gp_weight * self._gradient_penalty(x, fake, condition)
            opt_c.zero_grad()
            self.manual_backward(critic_loss)
            opt_c.step()
        generator_loss = -self.critic(self.generator(self._noise(x), condition), condition).mean()
        opt_g.zero_grad()
        self.manual_backward(generator_loss)
        opt_g.step()
        self._record(train_critic_loss=critic_loss, train_wasserstein=wasserstein,
                     train_generator_loss=generator_loss)

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        return torch.randn(x.shape[0], self.noise_dim, device=x.device)

    def noise_map(self) -> nn.Module:
        return self.generator


class VAEModule(_LossHistory):
    """Conditional VAE training loop: encoder(x, c) -> (mu, logvar) of q(z|x,c); decoder(z, c) -> mean and
    log scale^2 per dimension; loss per row = NLL of the decoder's noise law (joint over k) + beta * KL."""

    def __init__(self, n_features: int, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = ConditionalMLP(n_features, 2 * config.latent_dim, config.hidden)
        self.decoder = LocationScaleDecoder(ConditionalMLP(config.latent_dim, 2 * n_features, config.hidden),
                                            config.latent_dim, ConditionalGaussianPrior(config.latent_dim),
                                            df=config.noise_df)
        self.noise_dim = self.decoder.noise_dim(n_features)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.config.lr)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, regime = batch
        condition = one_hot(regime)
        mu, logvar = self.encoder(x, condition).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        mean, dec_logvar = self.decoder.moments(z, condition)
        nll = self.decoder.negative_log_likelihood(x, mean, dec_logvar).mean()
        prior_mu, prior_logvar = self.decoder.prior.moments(condition)
        kl = 0.5 * (prior_logvar - logvar + (logvar.exp() + (mu - prior_mu) ** 2) * torch.exp(-prior_logvar) - 1.0)
        kl = kl.sum(dim=1).mean()
        loss = nll + self.config.beta * kl
        self._record(train_loss=loss, train_nll=nll, train_kl=kl)
        return loss

    def noise_map(self) -> nn.Module:
        return self.decoder


# ------------------------------------------------------------------------------------------ training


@dataclass(frozen=True, eq=False)
class GeneratorResult:
    """A trained generator: the sampler (original units), its config, per-epoch mean losses, the symbols
    (column order), the first/last training date, the number of training rows and summary metrics."""

    sampler: ScenarioSampler
    config: GeneratorConfig
    history: list[dict[str, float]]
    symbols: list[str]
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    n_train: int
    metrics: dict[str, float] = field(default_factory=dict)


def build_sampler(config: GeneratorConfig, symbols: Sequence[str]) -> ScenarioSampler:
    """An untrained sampler with the architecture of ``config`` (GANConfig or VAEConfig) for these series, for
    ``load_state_dict`` of logged weights (the buffers restore the scaling, the volatility prior and, in factor
    space, the factor model)."""
    k, n_factors = len(symbols), config.factors_for(len(symbols))
    width = n_factors or k
    vol = RegimeVolPrior(k, n_factors) if config.devolatilise else None
    calibration = MomentCalibration(width) if config.moment_calibration else None
    factors = FactorModel(k, n_factors, config.residual_knots) if n_factors else None
    module = _module_for(config, width)
    return ScenarioSampler(module.noise_map(), module.noise_dim, symbols, vol=vol, calibration=calibration,
                           factors=factors)


def _module_for(config: GeneratorConfig, n_features: int) -> GANModule | VAEModule:
    if isinstance(config, GANConfig):
        return GANModule(n_features, config)
    if isinstance(config, VAEConfig):
        return VAEModule(n_features, config)
    raise InputError(f"unsupported generator config {type(config).__name__}")


def _trained_sampler(module: GANModule | VAEModule, data: ScenarioDataModule, config: GeneratorConfig
                     ) -> tuple[ScenarioSampler, dict[str, float]]:
    """The trained core with the data's standardisation, its fitted volatility prior (when devolatilised),
    moment calibration (when configured) and factor model (factor space), and the metrics of those fits
    (covariance gaps of the series or factors, dispersion factors, the factors' share of the variance)."""
    n_factors = data.factors.n_factors if data.factors is not None else 0
    vol = None if data.sigma is None else RegimeVolPrior.fit(data.sigma, data.rows.regime,
                                                             data.rows.returns if config.match_variance else None,
                                                             n_factors)
    core = module.noise_map().eval()
    calibration, gaps = None, {}
    if config.moment_calibration:
        calibration, gaps = MomentCalibration.fit(core, module.noise_dim, data.model_targets, data.rows.regime,
                                                  seed=config.seed)
    sampler = ScenarioSampler(core, module.noise_dim, data.symbols, data.standardizer.mean, data.standardizer.std,
                              vol, calibration, data.factors)
    scales = {f"vol_dispersion_scale_{name}": v for name, v in (vol.dispersion if vol is not None else {}).items()}
    factor_metrics = {"n_factors": float(n_factors)}
    if data.factors is not None:
        factor_metrics["factor_variance_share"] = data.factors.explained_share()
    return sampler.eval(), {**gaps, **scales, **factor_metrics}


def _train(daily: pd.DataFrame, config: GeneratorConfig, fast_dev_run: bool) -> GeneratorResult:
    seed_everything(config.seed)
    n_series = daily["symbol"].nunique()  # the columns of the joint return vectors (scenario_rows)
    data = ScenarioDataModule(daily, config.train_end, config.rows_per_step, config.seed, config.balance_regimes,
                              config.min_train_rows, config.min_regime_rows, config.devolatilise,
                              config.factors_for(n_series), config.residual_knots)
    module = _module_for(config, data.n_features)
    trainer = make_trainer(config.max_epochs, fast_dev_run=fast_dev_run, max_seconds=config.max_train_seconds)
    started = time.perf_counter()
    with torch_threads(config.torch_threads):
        trainer.fit(module, datamodule=data)
    seconds = time.perf_counter() - started
    sampler, fit_metrics = _trained_sampler(module, data, config)
    metrics = {"train_seconds": seconds, "epochs": float(len(module.history)), "n_train": float(len(data.rows)),
               "stopped_by_time_budget": float(stopped_by_time_budget(trainer)), **fit_metrics}
    if module.history:
        metrics.update({f"final_{k}": v for k, v in module.history[-1].items() if k != "epoch"})
    metrics.update({f"n_train_{name}": float(n) for name, n in data.rows.regime_counts().items()})
    return GeneratorResult(sampler=sampler, config=config, history=list(module.history), symbols=data.symbols,
                           train_start=data.rows.dates[0], train_end=data.rows.dates[-1], n_train=len(data.rows),
                           metrics=metrics)


def train_gan(daily: pd.DataFrame, config: GANConfig | None = None, fast_dev_run: bool = False) -> GeneratorResult:
    """Train the conditional WGAN-GP on ``daily_features`` (seeded; rows up to ``config.train_end``)."""
    return _train(daily, config or GANConfig.demo(), fast_dev_run)


def train_vae(daily: pd.DataFrame, config: VAEConfig | None = None, fast_dev_run: bool = False) -> GeneratorResult:
    """Train the conditional VAE on ``daily_features`` (seeded; rows up to ``config.train_end``)."""
    return _train(daily, config or VAEConfig.demo(), fast_dev_run)


# ------------------------------------------------------------------------------------------ FHS baseline


@dataclass(frozen=True, eq=False)
class FHSBootstrap:
    """Filtered historical simulation, regime-conditioned (no training).

    Definition, per series i and training day t (complete days, ``date <= train_end``):
    ``z_t,i = r_t,i / sigma_t-1,i`` where ``sigma_t-1,i`` is the series' EWMA(0.94) volatility on its previous
    row (point in time: it uses returns up to t-1 only). A scenario for regime g is ``sigma_s * z_u``: the
    residual vector ``z_u`` of one training day u drawn uniformly (jointly across series, so the
    cross-correlation of the standardized shocks is kept; from all training days, or only days of regime g
    when ``residuals_from="regime"``) times the volatility vector ``sigma_s = sigma_s-1`` of a training day s
    drawn uniformly among the days whose market regime is g. Days without a positive previous-day volatility
    for every series are left out.

    ``residuals``: (m, k); ``sigma``: (m, k) previous-day volatilities; ``regime``: (m,) indices.
    """

    symbols: list[str]
    dates: pd.DatetimeIndex
    residuals: np.ndarray
    sigma: np.ndarray
    regime: np.ndarray
    residuals_from: Literal["all", "regime"] = "all"

    @classmethod
    def fit(cls, daily: pd.DataFrame, train_end: DateLike = None, residuals_from: Literal["all", "regime"] = "all",
            min_rows: int = 200, min_regime_rows: int = 20) -> FHSBootstrap:
        rows, sigma = devolatilised_rows(daily, train_end)
        validate_training_rows(rows, min_rows, min_regime_rows, "FHS bootstrap")
        return cls(rows.symbols, rows.dates, rows.returns / sigma, sigma, rows.regime, residuals_from)

    def sample(self, n: int, regime: str, seed: int | None = None) -> np.ndarray:
        """``n`` scenarios (n, k) in original units for the regime."""
        rng = np.random.default_rng(seed)
        days = np.flatnonzero(self.regime == regime_index(regime))
        pool = days if self.residuals_from == "regime" else np.arange(len(self.regime))
        return self.sigma[rng.choice(days, n)] * self.residuals[rng.choice(pool, n)]


def previous_day_vol(daily: pd.DataFrame) -> pd.DataFrame:
    """dates x symbols: each series' EWMA volatility on its own previous row (NaN on its first row)."""
    frame = daily[["date", "symbol", "ewma_vol"]].sort_values(["symbol", "date"])
    prev = frame.groupby("symbol", sort=False)["ewma_vol"].shift(1)
    return frame.assign(ewma_vol=prev).pivot(index="date", columns="symbol", values="ewma_vol").sort_index()
