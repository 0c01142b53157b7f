"""Quality of generated one-day return scenarios against real returns of the same regime.

Inputs are (n, k) arrays in original units (log returns; basis-point changes for yields) with columns in
``symbols`` order. Metrics: excess kurtosis per series (with a bootstrap interval of the real sample), Hill
left-tail index, average pairwise correlation, lower-tail dependence between equity indices, VaR/ES of two
portfolios (losses positive; the 60/40 legs chosen by :func:`risk_platform.data.roles.sixty_forty`, a book
without its series is not evaluated and :func:`portfolio_notes` says why) and a discriminative score
(held-out classifier accuracy minus 0.5).

Scale (many series): the per-series figures and the average correlation cost O(n k) (no k x k matrix); the
figures over pairs (correlation RMSE, tail dependence) use the pairs among a seeded sample of at most
:data:`MAX_CORRELATION_SERIES` / :data:`MAX_TAIL_SERIES` series, and the classifier of the discriminative score
sees at most :data:`MAX_DISCRIMINATOR_SERIES` series, the same for the real and generated samples (all series
when there are fewer: the bundled universe's figures are exact).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd
from scipy.stats import kurtosis, rankdata
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from risk_platform.data.roles import sixty_forty
from risk_platform.errors import InputError
from risk_platform.models.generators import DateLike, ScenarioRows, scenario_rows
from risk_platform.models.sampler_inputs import regime_index
from risk_platform.regime import REGIMES
from risk_platform.risk.measures import historical_var_es

PRICE_QUOTES = ("price", "index_level", "fx_rate")  # log-return series; yields (bp) are left out
EXCLUDED_CLASSES = ("volatility",)  # VIX is quoted as an index level but is not an investable price
TAIL_SHARE = 0.05  # Hill: top 5% order statistics; tail dependence at q = 5%
MIN_TAIL_DAYS = 2.0  # expected real days beyond the VaR level below which the figure gets no bootstrap interval
MAX_CORRELATION_SERIES = 200  # correlation RMSE over the pairs of at most this many series (19,900 pairs)
MAX_TAIL_SERIES = 64  # tail dependence over the pairs of at most this many equity indices (2,016 pairs)
MAX_DISCRIMINATOR_SERIES = 64  # the classifier's features: at most this many series (33 s -> 4 s at k = 500)


class Sampler(Protocol):
    symbols: list[str]

    def sample(self, n: int, regime: str, seed: int | None = None) -> np.ndarray: ...


# ------------------------------------------------------------------------------------------- marginals


def excess_kurtosis(x: np.ndarray) -> np.ndarray:
    """Sample excess kurtosis per column (Fisher, biased moment estimator): (n, k) -> (k,)."""
    return kurtosis(np.asarray(x, dtype=float), axis=0, fisher=True, bias=True)


def bootstrap_interval(x: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray | float], n_boot: int = 500,
                       level: float = 0.95, seed: int = 0) -> np.ndarray:
    """Percentile bootstrap interval of ``statistic`` over the rows of ``x`` (rows resampled with replacement,
    jointly across columns): (n, ...) -> (2, *shape of the statistic); row 0 the lower bound, row 1 the upper."""
    x = np.asarray(x, dtype=float)
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(x[rng.integers(0, len(x), len(x))]) for _ in range(n_boot)], dtype=float)
    tail = (1.0 - level) / 2.0
    return np.nanquantile(draws, [tail, 1.0 - tail], axis=0)


def kurtosis_interval(x: np.ndarray, n_boot: int = 500, level: float = 0.95, seed: int = 0) -> np.ndarray:
    """Percentile bootstrap interval of each column's excess kurtosis (rows resampled jointly): (n, k) -> (2, k).

    The resamples of :func:`bootstrap_interval` (same seed, same rows), each one's moments from its row counts:
    four (n_boot, n) x (n, k) products instead of n_boot copies of the sample."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    rng = np.random.default_rng(seed)
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)]) / n
    centred = x - x.mean(axis=0)
    m1, m2, m3, m4 = (weights @ centred**p for p in (1, 2, 3, 4))
    variance = m2 - m1**2
    fourth = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = fourth / variance**2 - 3.0
    tail = (1.0 - level) / 2.0
    return np.nanquantile(draws, [tail, 1.0 - tail], axis=0)


def hill_left_tail_index(x: np.ndarray, share: float = TAIL_SHARE) -> np.ndarray:
    """Hill estimate of the tail index alpha of the left tail (losses ``-x``) per column: (n, k) -> (k,).

    With losses sorted in decreasing order ``L_(1) >= L_(2) >= ...`` and ``m = ceil(share * n)``:
    ``1 / alpha = mean_{i<=m} log(L_(i) / L_(m+1))``. NaN when ``L_(m+1) <= 0`` (too few losses).
    """
    losses = -np.asarray(x, dtype=float)
    n = losses.shape[0]
    m = int(np.ceil(share * n))
    if m + 1 > n:
        raise InputError(f"Hill estimator: {n} observations are too few for the top {share:.0%}")
    ordered = np.partition(losses, n - m - 1, axis=0)  # per column: the m largest after L_(m+1), in any order
    threshold = ordered[n - m - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_alpha = np.log(ordered[n - m:] / threshold).mean(axis=0)
        alpha = 1.0 / inverse_alpha
    return np.where(threshold > 0, alpha, np.nan)


# ---------------------------------------------------------------------------------------- dependence


def average_pairwise_correlation(x: np.ndarray) -> float:
    """Mean of the off-diagonal Pearson correlations of the columns of ``x`` (n, k), constant columns left out
    (their correlations are undefined); NaN with fewer than two others. O(n k): with ``z`` the standardized
    columns, the sum of all k'^2 correlations is ``sum_t (sum_i z_ti)^2 / (n - 1)``, the diagonal adds k'."""
    x = np.asarray(x, dtype=float)
    std = x.std(axis=0, ddof=1)
    varying = std > 0
    m = int(varying.sum())
    if m < 2:
        return float("nan")
    z = (x[:, varying] - x[:, varying].mean(axis=0)) / std[varying]
    total = float((z.sum(axis=1) ** 2).sum() / (len(x) - 1))
    return (total - m) / (m * (m - 1))


def series_sample(k: int, most: int, seed: int = 0) -> np.ndarray:
    """Sorted column indices: all k when ``k <= most``, else a seeded sample of ``most`` (the pairs among them
    stand for all pairs: every pair is equally likely to be in the sample)."""
    if k <= most:
        return np.arange(k)
    return np.sort(np.random.default_rng(seed).choice(k, most, replace=False))


def correlation_rmse(a: np.ndarray, b: np.ndarray, most: int = MAX_CORRELATION_SERIES) -> float:
    """Root mean squared difference of the off-diagonal correlations of two (n, k) samples, over the pairs among
    :func:`series_sample` (all pairs up to ``most`` series)."""
    columns = series_sample(np.shape(a)[1], most)
    ca, cb = (np.corrcoef(np.asarray(v, dtype=float)[:, columns], rowvar=False) for v in (a, b))
    iu = np.triu_indices_from(ca, k=1)
    return float(np.sqrt(np.nanmean((ca[iu] - cb[iu]) ** 2)))


def lower_tail_dependence(a: np.ndarray, b: np.ndarray, q: float = TAIL_SHARE) -> float:
    """Empirical lower-tail dependence ``lambda_L(q) = P(U_a <= q, U_b <= q) / q`` on ranks (pseudo-observations
    ``rank / n``) of two (n,) samples. 1 = losses always coincide, q = independence."""
    n = len(a)
    ua, ub = rankdata(a) / n, rankdata(b) / n
    return float(np.mean((ua <= q) & (ub <= q)) / q)


def equity_index_symbols(symbols: Sequence[str], instruments: pd.DataFrame) -> list[str]:
    """Symbols with asset_class ``equity`` and quote_type ``index_level``, in ``symbols`` order."""
    meta = _meta(instruments)
    return [s for s in symbols if s in meta.index and meta.at[s, "asset_class"] == "equity"
            and meta.at[s, "quote_type"] == "index_level"]


def average_lower_tail_dependence(x: np.ndarray, symbols: Sequence[str], instruments: pd.DataFrame,
                                  q: float = TAIL_SHARE, most: int = MAX_TAIL_SERIES) -> float:
    """:func:`lower_tail_dependence` averaged over the pairs of equity indices (all pairs up to ``most`` indices,
    else the pairs among a seeded :func:`series_sample` of them); NaN with fewer than two. Each column is ranked
    once and all pairs come from one product of the tail indicators."""
    cols = np.array([list(symbols).index(s) for s in equity_index_symbols(symbols, instruments)], dtype=int)
    if len(cols) < 2:
        return float("nan")
    cols = cols[series_sample(len(cols), most)]
    n = len(x)
    in_tail = (rankdata(np.asarray(x, dtype=float)[:, cols], axis=0) / n <= q).astype(float)
    joint = in_tail.T @ in_tail / n / q  # (m, m): lambda_L(q) of every pair
    return float(joint[np.triu_indices(len(cols), k=1)].mean())


# ---------------------------------------------------------------------------------------- portfolios


def _priced(symbols: Sequence[str], instruments: pd.DataFrame) -> np.ndarray:
    """(k,) bool: price-type series (quote_type price/index_level/fx_rate, volatility indices excluded)."""
    meta = _meta(instruments)
    return np.array([s in meta.index and meta.at[s, "quote_type"] in PRICE_QUOTES
                     and meta.at[s, "asset_class"] not in EXCLUDED_CLASSES for s in symbols], dtype=bool)


def portfolio_weights(symbols: Sequence[str], instruments: pd.DataFrame) -> dict[str, np.ndarray]:
    """Weights (k,) of the ``equal_weight`` portfolio (price-type series: quote_type price/index_level/fx_rate,
    VIX and yields excluded) and of ``60_40`` (:func:`risk_platform.data.roles.sixty_forty`: 60% the equity
    index, 40% the bond series); a book without its series is omitted (:func:`portfolio_notes` says why)."""
    symbols = list(symbols)
    priced = _priced(symbols, instruments)
    out: dict[str, np.ndarray] = {}
    if priced.any():
        out["equal_weight"] = priced / priced.sum()
    weights, _ = sixty_forty(instruments, symbols)
    if weights:
        out["60_40"] = np.array([weights.get(s, 0.0) for s in symbols])
    return out


def portfolio_notes(symbols: Sequence[str], instruments: pd.DataFrame) -> list[str]:
    """Why a quality book of :func:`portfolio_weights` is not evaluated on these series (empty when both are)."""
    notes = [] if _priced(list(symbols), instruments).any() else [
        "no price-type series: equal_weight book not evaluated"]
    _, reason = sixty_forty(instruments, list(symbols))
    return notes + ([reason] if reason else [])


def portfolio_returns(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Simple portfolio returns (n,) of log-return scenarios (n, k): ``sum_i w_i (exp(x_i) - 1)`` over w_i != 0."""
    used = weights != 0
    return np.expm1(np.asarray(x, dtype=float)[:, used]) @ weights[used]


# ---------------------------------------------------------------------------------------- classifier


def discriminative_score(real: np.ndarray, generated: np.ndarray, seed: int = 0, test_size: float = 0.3,
                         repeats: int = 3, match_grid: bool = True, most: int = MAX_DISCRIMINATOR_SERIES) -> float:
    """Held-out accuracy minus 0.5 of a gradient-boosting classifier telling real rows from generated ones.

    The larger sample is subsampled (without replacement) to the size of the smaller, so the classes are
    balanced; 70/30 split with equal classes; the accuracy is averaged over ``repeats`` seeded splits (less noise with
    a few hundred real rows). 0 = indistinguishable, 0.5 = perfectly separable. With ``match_grid``, series whose
    real values all lie on the whole-unit grid (yield changes are published in whole basis points) are rounded
    to that grid, real and generated alike, so the classifier judges the distribution rather than the quote
    precision or float noise (a continuous generator is otherwise told apart on the yields alone). With more
    than ``most`` series the classifier sees a seeded :func:`series_sample` of ``most`` (the same columns of
    both samples): the joint law of a random subset, at a cost that does not grow with k.
    """
    columns = series_sample(np.shape(real)[1], most)
    real, generated = np.asarray(real, dtype=float)[:, columns], np.asarray(generated, dtype=float)[:, columns]
    if match_grid:
        grid = on_unit_grid(real)
        real, generated = (np.where(grid, np.round(v), v) for v in (real, generated))
    rng = np.random.default_rng(seed)
    m = min(len(real), len(generated))
    a = real[np.sort(rng.choice(len(real), m, replace=False))]
    b = generated[np.sort(rng.choice(len(generated), m, replace=False))]
    n_test = max(1, int(round(test_size * m)))
    scores = []
    for r in range(repeats):
        # the same positions of both classes go to the test set: rows that are exact copies (generated == real)
        # stay together, so a classifier cannot score by memorising a twin with the other label
        order = np.random.default_rng(seed + r).permutation(m)
        test, train = order[:n_test], order[n_test:]
        y_train, y_test = np.r_[np.ones(len(train)), np.zeros(len(train))], np.r_[np.ones(n_test), np.zeros(n_test)]
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed + r)
        with threadpool_limits(1, user_api="openmp"):  # a few hundred rows: OpenMP threads only contend
            model.fit(np.vstack([a[train], b[train]]), y_train)
            scores.append(model.score(np.vstack([a[test], b[test]]), y_test))
    return float(np.mean(scores) - 0.5)


def on_unit_grid(x: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """(n, k) -> (k,) bool: columns whose values are all whole numbers (up to ``tol``)."""
    return np.all(np.abs(x - np.round(x)) <= tol, axis=0)


# ------------------------------------------------------------------------------------------- summary


def generator_quality(real: np.ndarray, generated: np.ndarray, symbols: Sequence[str], instruments: pd.DataFrame,
                      seed: int = 0) -> dict[str, float]:
    """All metrics of ``generated`` (n_gen, k) against ``real`` (n_real, k), same regime, original units.

    Keys: ``kurtosis_real_mean``/``kurtosis_gen_mean`` (mean excess kurtosis over series),
    ``kurtosis_share_in_ci`` (share of series whose generated kurtosis lies in the real sample's bootstrap 95%
    interval), ``hill_real_mean``/``hill_gen_mean``/``hill_mae`` (left-tail index), ``avg_corr_real``/
    ``avg_corr_gen``/``corr_rmse``, ``tail_dep_real``/``tail_dep_gen`` (equity indices, q = 5%),
    ``var99_{real,gen,rel_err}_<portfolio>`` and ``es975_{real,gen,rel_err}_<portfolio>`` for portfolios
    ``equal_weight`` and ``60_40`` (losses positive, fractions of value), with the real figure's bootstrap 95%
    interval ``..._real_lo_<portfolio>``/``..._real_hi_<portfolio>`` (days resampled; the sampling error of the
    reference itself, wide with a few hundred stress days; NaN with fewer than :data:`MIN_TAIL_DAYS` expected
    real days in the tail, e.g. VaR99 of a crisis window under 200 days) and ``..._gen_in_ci_<portfolio>`` (1
    when the generated figure lies inside it, NaN without an interval), ``disc_score`` (generated yield
    changes rounded to whole bp like the real ones) and ``disc_score_unrounded``.
    """
    real, generated = np.asarray(real, dtype=float), np.asarray(generated, dtype=float)
    k = len(symbols)
    if real.ndim != 2 or generated.ndim != 2 or real.shape[1] != k or generated.shape[1] != k:
        raise InputError(f"generator_quality: expected (n, {k}) arrays, got {real.shape} and {generated.shape}")
    for name, x in (("real", real), ("generated", generated)):
        if not np.all(np.isfinite(x)):
            raise InputError(f"generator_quality: {name} scenarios contain NaN or infinite values")
    kurt_real, kurt_gen = excess_kurtosis(real), excess_kurtosis(generated)
    kurt_lo, kurt_hi = kurtosis_interval(real, seed=seed)
    hill_real, hill_gen = hill_left_tail_index(real), hill_left_tail_index(generated)
    out = {
        "n_real": float(len(real)),
        "n_gen": float(len(generated)),
        "kurtosis_real_mean": float(np.mean(kurt_real)),
        "kurtosis_gen_mean": float(np.mean(kurt_gen)),
        "kurtosis_share_in_ci": float(np.mean((kurt_gen >= kurt_lo) & (kurt_gen <= kurt_hi))),
        "hill_real_mean": float(np.nanmean(hill_real)),
        "hill_gen_mean": float(np.nanmean(hill_gen)),
        "hill_mae": float(np.nanmean(np.abs(hill_real - hill_gen))),
        "avg_corr_real": average_pairwise_correlation(real),
        "avg_corr_gen": average_pairwise_correlation(generated),
        "corr_rmse": correlation_rmse(real, generated),
        "tail_dep_real": average_lower_tail_dependence(real, symbols, instruments),
        "tail_dep_gen": average_lower_tail_dependence(generated, symbols, instruments),
    }
    for name, weights in portfolio_weights(symbols, instruments).items():
        pr, pg = portfolio_returns(real, weights), portfolio_returns(generated, weights)
        for key, alpha, pick in (("var99", 0.99, "var"), ("es975", 0.975, "es")):
            def figure(pnl: np.ndarray, alpha: float = alpha, pick: str = pick) -> float:
                return getattr(historical_var_es(pnl, alpha), pick)

            vr, vg = figure(pr), figure(pg)
            lo = hi = float("nan")  # too few tail days: a resample cannot exceed the largest loss, no upper side
            if len(pr) * (1.0 - alpha) >= MIN_TAIL_DAYS:
                lo, hi = bootstrap_interval(pr, figure, seed=seed)
            out[f"{key}_real_{name}"] = float(vr)
            out[f"{key}_gen_{name}"] = float(vg)
            out[f"{key}_rel_err_{name}"] = float(abs(vg - vr) / abs(vr)) if vr != 0 else float("nan")
            out[f"{key}_real_lo_{name}"], out[f"{key}_real_hi_{name}"] = float(lo), float(hi)
            out[f"{key}_gen_in_ci_{name}"] = float(lo <= vg <= hi) if np.isfinite(lo) else float("nan")
    out["disc_score"] = discriminative_score(real, generated, seed=seed)
    out["disc_score_unrounded"] = discriminative_score(real, generated, seed=seed, match_grid=False)
    return out


def evaluate_generators(daily: pd.DataFrame, instruments: pd.DataFrame, samplers: Mapping[str, Sampler],
                        regime: str = "high", n: int = 20_000, start: DateLike = None, end: DateLike = None,
                        seed: int = 0) -> pd.DataFrame:
    """Side-by-side quality table (metrics x sampler names) of each sampler's ``n`` scenarios for ``regime``
    against the real complete-day rows of that regime with ``start <= date <= end`` (e.g. held-out days)."""
    real = _regime_rows(scenario_rows(daily, start, end), regime)
    columns = {}
    for name, sampler in samplers.items():
        _check_symbols(name, sampler, real.symbols)
        generated = sampler.sample(n, regime, seed=seed)
        columns[name] = generator_quality(real.returns, generated, real.symbols, instruments, seed=seed)
    return pd.DataFrame(columns)


def correlation_by_regime(daily: pd.DataFrame, samplers: Mapping[str, Sampler], regimes: Sequence[str] = REGIMES,
                          n: int = 20_000, start: DateLike = None, end: DateLike = None, seed: int = 0) -> pd.DataFrame:
    """Average pairwise correlation per regime (rows) for the real rows and each sampler (columns): shows
    whether a generator reproduces the rise of cross-asset correlation in high-volatility regimes."""
    rows = scenario_rows(daily, start, end)
    table: dict[str, dict[str, float]] = {"real": {}}
    for regime in regimes:
        table["real"][regime] = average_pairwise_correlation(_regime_rows(rows, regime).returns)
        for name, sampler in samplers.items():
            _check_symbols(name, sampler, rows.symbols)
            table.setdefault(name, {})[regime] = average_pairwise_correlation(sampler.sample(n, regime, seed=seed))
    return pd.DataFrame(table)


def _regime_rows(rows: ScenarioRows, regime: str) -> ScenarioRows:
    selected = rows.select(rows.regime == regime_index(regime))
    if len(selected) < 40:
        raise InputError(f"only {len(selected)} real rows in regime {regime!r}: too few to evaluate generators")
    return selected


def _check_symbols(name: str, sampler: Sampler, symbols: list[str]) -> None:
    if list(sampler.symbols) != list(symbols):
        raise InputError(f"sampler {name!r}: symbols {list(sampler.symbols)} differ from the data's {symbols}")


def _meta(instruments: pd.DataFrame) -> pd.DataFrame:
    return instruments.drop_duplicates("symbol").set_index("symbol")[["asset_class", "quote_type"]]
