"""Vine copula Monte Carlo with ``pyvinecopulib``: tail dependence across asset classes, empirical marginals.

Fit: the pseudo-observations (ranks / (n + 1)) of recent factor returns on the days every factor has a
return are fitted with a regular vine whose pair copulas are chosen per edge by AIC among
``family_set``, parameters by Kendall's-tau inversion. The default families are Gaussian (no tail
dependence), Clayton and Gumbel with their rotations (lower / upper tail dependence, and for negatively
dependent pairs the mixed corners), truncated after ``COPULA_TRUNCATION`` trees (conditional independence
beyond). Student-t and Frank are left out by default: their inverse h-functions are numerical, and drawing
50,000 scenarios over 25 factors then takes minutes on two cores instead of seconds.
Simulation: uniforms from the vine mapped back through each factor's empirical quantile function
(linear interpolation between order statistics; so scenarios never exceed the fitted sample's extremes).
Size: the truncation keeps the fit and the draws linear in the number of factors beyond the first tree's pair
search; with 491 factors (``python -m bench.risk_assessment --factors 500``), 3 trees, on two shared cores: fit
14-26 s on 424 complete days, 50,000 draws 22-54 s; with 981 factors 186 s and 116 s (once per market update,
not per assessment).

Large N (more than ``COPULA_STRUCTURED_ABOVE`` series): a factor-structured copula, :class:`FactorCopulaModel`,
fitted on the same complete days. The returns are standardised (mean 0, standard deviation 1 per series); their
thin SVD gives K statistical factors (the leading principal components, K = min(``COPULA_MAX_FACTORS``, N // 4)
unless set), whose scores are uncorrelated but not independent: a truncated vine on the K scores (the model
above, with the scores' empirical margins) keeps their non-Gaussian and tail dependence. A scenario is
``loadings @ factors + residual``, the residual being the whole cross-section of PCA residuals of one fit day
drawn at random (a bootstrap of days, not of each series on its own, and not a fitted Student-t: it keeps every
residual's own fat tails and the dependence the K factors leave, sectors for instance, without a parametric
assumption, and its covariance is the sample's, so the draws' correlation is the sample correlation up to the
vine's approximation of the factors' dependence). Each series is then mapped, rank-preserving, through its
empirical margin: a monotone piecewise-linear map from the model's own quantiles of that series (``MARGIN_LEVELS``
levels estimated at fit time on ``MARGIN_PILOT_DRAWS`` draws) to the empirical quantiles at the same levels,
tabulated at ``MARGIN_BINS`` equally spaced values for vectorised lookup, so every margin is the empirical one up
to the pilot's sampling error. No N x N matrix: fit O(n_obs^2 N) (the SVD), sampling O(n (vine on K) + n N K)
with memory O(N (K + n_obs + MARGIN_BINS) + n N) in float32. Measured (``bench.risk_assessment``, two shared
cores, K = 12): fit 0.5-1.6 s, 50,000 draws 0.9-1.5 s at N = 491; 2.9 s and 2.5 s at N = 981.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyvinecopulib as pv

from risk_platform.errors import ComputationError
from risk_platform.risk.config import COPULA_FAMILIES, COPULA_MAX_FACTORS, COPULA_STRUCTURED_ABOVE, COPULA_TRUNCATION

MIN_COPULA_DAYS = 100
MARGIN_PILOT_DRAWS = 16_384  # draws of the structured model, at fit time, that estimate its margins
MARGIN_LEVELS = 1_024  # quantile levels of the structured model's margin map
MARGIN_BINS = 4_096  # equally spaced standardised values tabulating the margin map (vectorised sampling)
MARGIN_PILOT_SEED = 20_260_016  # the pilot's seed (the fitted model is deterministic)
TAIL_QUANTILE = 0.05  # the lower-tail co-exceedance reported by FactorCopulaModel.tail_dependence


@dataclass(frozen=True)
class VineCopulaModel:
    """A fitted vine copula over ``symbols`` with the sorted fitted returns as empirical marginals."""

    symbols: tuple[str, ...]
    vine: pv.Vinecop
    sorted_returns: np.ndarray  # (n_obs, k), each column sorted
    n_obs: int
    start: str
    end: str
    families: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"vine copula ({len(self.symbols)} factors, {self.n_obs} days {self.start}..{self.end})"

    def sample_uniform(self, n: int, seed: int = 0, threads: int = 1) -> np.ndarray:
        """(n, k) uniforms from the vine (reproducible for a given seed)."""
        return np.asarray(self.vine.sample(n, seeds=[seed, seed + 1, seed + 2], num_threads=threads))

    def sample(self, n: int, seed: int = 0, threads: int = 1) -> np.ndarray:
        """(n, k) factor returns (log returns / bp) in ``symbols`` order."""
        return empirical_quantiles(self.sorted_returns, self.sample_uniform(n, seed, threads))

    def tail_dependence(self) -> dict:
        """Families chosen on the first tree (the pairs with direct dependence)."""
        pairs = self.vine.pair_copulas[0] if self.vine.pair_copulas else []
        return {"first_tree_families": sorted({str(pc.family).split(".")[-1] for pc in pairs})}


@dataclass(frozen=True)
class FactorCopulaModel:
    """A factor-structured copula over ``symbols`` (N series): a vine on K statistical factors, a day-bootstrap of
    the residuals and each series' empirical margin (see the module docstring). Same interface as
    :class:`VineCopulaModel`."""

    symbols: tuple[str, ...]
    factor_vine: VineCopulaModel  # the vine on the K factor scores, their empirical margins
    loadings: np.ndarray  # (N, K) float32: standardised return per unit of each factor score
    residuals: np.ndarray  # (n_obs, N) float32: standardised PCA residual of each series on each fit day
    margin_low: np.ndarray  # (N,) float32: the lowest standardised value of the margin map's table
    margin_scale: np.ndarray  # (N,) float32: table bins per standardised unit
    margin_table: np.ndarray  # (N, MARGIN_BINS + 1) float32: the margin map (return) at equally spaced values
    explained_variance: float  # share of the standardised returns' variance the K factors explain
    tail_summary: dict  # lower-tail co-exceedance of the data and of the pilot draws (see tail_dependence)
    n_obs: int
    start: str
    end: str
    families: tuple[str, ...]

    @property
    def n_factors(self) -> int:
        return self.loadings.shape[1]

    @property
    def label(self) -> str:
        return (f"vine copula, factor-structured ({len(self.symbols)} series on {self.n_factors} PCA factors,"
                f" {self.n_obs} days {self.start}..{self.end})")

    def sample_standardised(self, n: int, seed: int = 0, threads: int = 1) -> np.ndarray:
        """(n, N) float32: ``loadings @ factors + residual`` per draw, before the margin map."""
        factors = self.factor_vine.sample(n, seed, threads).astype(np.float32)
        days = np.random.default_rng([seed, 16]).integers(0, self.n_obs, n)
        z = np.take(self.residuals, days, axis=0)
        z += factors @ self.loadings.T
        return z

    def sample(self, n: int, seed: int = 0, threads: int = 1) -> np.ndarray:
        """(n, N) float32 factor returns (log returns / bp) in ``symbols`` order."""
        return self.map_margins(self.sample_standardised(n, seed, threads))

    def map_margins(self, z: np.ndarray, rows: int = 2_048, columns: int = 64) -> np.ndarray:
        """The margin map, in place on ``z`` (n, N) float32: each series' standardised draws to returns by linear
        interpolation in its table, vectorised over tiles of ``rows`` draws x ``columns`` series (the tables of
        ``columns`` series, 1 MB, stay in cache)."""
        bins = self.margin_table.shape[1] - 1
        for c in range(0, z.shape[1], columns):
            series = slice(c, c + columns)
            table = self.margin_table[series].ravel()
            offsets = np.arange(len(table) // (bins + 1), dtype=np.int32) * (bins + 1)
            low, scale = self.margin_low[series], self.margin_scale[series]
            for a in range(0, len(z), rows):
                t = z[a:a + rows, series]
                t -= low
                t *= scale
                np.clip(t, 0, bins - 1e-3, out=t)
                i = t.astype(np.int32)
                t -= i
                i += offsets
                left = table[i]
                t *= table[i + 1] - left
                t += left
        return z

    def tail_dependence(self) -> dict:
        """Families on the factor vine's first tree, K, the variance the factors explain, and the lower-tail
        co-exceedance P(U_b < q | U_a < q), q = ``TAIL_QUANTILE``, over the pairs of the series most loaded on each
        factor: median and maximum in the fitted days and in the model's pilot draws."""
        return {**self.factor_vine.tail_dependence(), "statistical_factors": self.n_factors,
                "explained_variance": round(self.explained_variance, 4), **self.tail_summary}


CopulaModel = VineCopulaModel | FactorCopulaModel


def lower_tail_coexceedance(x: np.ndarray, q: float = TAIL_QUANTILE) -> np.ndarray:
    """(k, k) P(x_b below its q-quantile | x_a below its q-quantile) for the columns of ``x`` (n, k); the
    diagonal is 1."""
    below = (x <= np.quantile(x, q, axis=0)).astype(float)
    return (below.T @ below) / np.maximum(below.sum(axis=0), 1)[:, None]


def empirical_quantiles(sorted_returns: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse empirical CDF per column: ``u`` (n, k) in (0, 1) -> values, linear between the order
    statistics placed at plotting positions ``i / (n_obs + 1)`` (the pseudo-observation scale)."""
    n_obs, k = sorted_returns.shape
    positions = np.arange(1, n_obs + 1) / (n_obs + 1)
    out = np.empty_like(u, dtype=float)
    for j in range(k):
        out[:, j] = np.interp(u[:, j], positions, sorted_returns[:, j])
    return out


def fit_vine_copula(returns: np.ndarray, symbols: list[str], families: tuple[str, ...] = COPULA_FAMILIES,
                    trunc_lvl: int | None = COPULA_TRUNCATION, threads: int = 1, start: str = "",
                    end: str = "", structured_above: int | None = COPULA_STRUCTURED_ABOVE,
                    n_factors: int | None = None) -> CopulaModel:
    """Fit a copula on complete rows of ``returns`` (n, N) (rows with NaN are dropped): a vine on the N series,
    or above ``structured_above`` series (None: never) the factor-structured model with ``n_factors`` statistical
    factors (None: min(``COPULA_MAX_FACTORS``, N // 4))."""
    x = np.asarray(returns, dtype=float)
    x = x[np.all(np.isfinite(x), axis=1)]
    if len(x) < MIN_COPULA_DAYS:
        raise ComputationError(f"vine copula needs {MIN_COPULA_DAYS} complete days, got {len(x)}")
    if structured_above is not None and x.shape[1] > structured_above:
        k = n_factors or min(COPULA_MAX_FACTORS, x.shape[1] // 4)
        return _fit_factor_copula(x, symbols, k, families, trunc_lvl, threads, start, end)
    u = pv.to_pseudo_obs(x)
    family_set = [getattr(pv.BicopFamily, f) for f in families]
    controls = pv.FitControlsVinecop(family_set=family_set, parametric_method="itau", num_threads=threads,
                                     **({"trunc_lvl": trunc_lvl} if trunc_lvl else {}))
    vine = pv.Vinecop.from_data(u, controls=controls)
    return VineCopulaModel(symbols=tuple(symbols), vine=vine, sorted_returns=np.sort(x, axis=0), n_obs=len(x),
                           start=start, end=end, families=tuple(families))


def _fit_factor_copula(x: np.ndarray, symbols: list[str], k: int, families: tuple[str, ...],
                       trunc_lvl: int | None, threads: int, start: str, end: str) -> FactorCopulaModel:
    """The factor-structured copula on complete rows ``x`` (n_obs, N) with ``k`` statistical factors."""
    n_obs, n_series = x.shape
    if not 1 <= k < min(n_obs, n_series):
        raise ComputationError(f"factor-structured copula: {k} factors for {n_series} series on {n_obs} days")
    sd = x.std(axis=0, ddof=1)
    standardised = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    _, singular, vt = np.linalg.svd(standardised, full_matrices=False)
    loadings = vt[:k].T  # (N, k) orthonormal
    scores = standardised @ loadings  # (n_obs, k), uncorrelated
    residuals = standardised - scores @ loadings.T
    factor_vine = fit_vine_copula(scores, [f"PC{i + 1}" for i in range(k)], families, trunc_lvl, threads,
                                  start, end, structured_above=None)
    sorted_returns = np.sort(x, axis=0)
    model = FactorCopulaModel(
        symbols=tuple(symbols), factor_vine=factor_vine, loadings=loadings.astype(np.float32),
        residuals=residuals.astype(np.float32), margin_low=np.empty(0, np.float32),
        margin_scale=np.empty(0, np.float32), margin_table=np.empty((0, 0), np.float32),  # set below
        explained_variance=float(np.sum(singular[:k] ** 2) / np.sum(singular ** 2)), tail_summary={},
        n_obs=n_obs, start=start, end=end, families=tuple(families))
    pilot = model.sample_standardised(MARGIN_PILOT_DRAWS, MARGIN_PILOT_SEED, threads)
    ranks = np.round(np.linspace(0, MARGIN_PILOT_DRAWS - 1, MARGIN_LEVELS)).astype(int)
    grid = np.sort(pilot, axis=0)[ranks].T  # (N, levels)
    levels = (ranks + 1) / (MARGIN_PILOT_DRAWS + 1)
    values = empirical_quantiles(sorted_returns, np.broadcast_to(levels[:, None], (MARGIN_LEVELS, n_series))).T
    anchors = np.unique(np.argmax(np.abs(loadings), axis=0))
    pairs = np.triu_indices(len(anchors), 1)
    data_tail = lower_tail_coexceedance(x[:, anchors])[pairs]
    pilot_tail = lower_tail_coexceedance(pilot[:, anchors])[pairs]  # ranks: the margin map is monotone
    tail_summary = ({"tail_pairs": len(data_tail), "tail_quantile": TAIL_QUANTILE,
                     "tail_coexceedance_data_median": round(float(np.median(data_tail)), 4),
                     "tail_coexceedance_data_max": round(float(np.max(data_tail)), 4),
                     "tail_coexceedance_model_median": round(float(np.median(pilot_tail)), 4),
                     "tail_coexceedance_model_max": round(float(np.max(pilot_tail)), 4)}
                    if len(data_tail) else {"tail_pairs": 0})
    low, high = grid[:, 0].astype(float), grid[:, -1].astype(float)
    width = np.where(high > low, high - low, 1.0)
    edges = low[:, None] + width[:, None] * np.linspace(0, 1, MARGIN_BINS + 1)[None, :]
    table = np.array([np.interp(edges[j], grid[j], values[j]) for j in range(n_series)], dtype=np.float32)
    return replace(model, margin_low=low.astype(np.float32), margin_scale=(MARGIN_BINS / width).astype(np.float32),
                   margin_table=table,
                   tail_summary=tail_summary)
