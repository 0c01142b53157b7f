"""Significance of VaR backtests and comparisons: bootstrap coverage p-values, the Diebold-Mariano test on tick
loss, the model confidence set, and the reviewer's comparison table of methods on the same days.

* **Bootstrap p-values of Kupiec and Christoffersen** (Monte Carlo under the null; Dufour 2006, Berkowitz,
  Christoffersen and Pelletier 2011): ``draws`` hit sequences of the observed length are simulated under the
  test's null, each gives the test's LR statistic, and ``p = (1 + #{LR_sim >= LR_obs}) / (1 + draws)``. Kupiec
  and conditional coverage: i.i.d. Bernoulli(``1 - alpha``) hits (correct coverage and independence);
  independence: the observed hits in random order (a permutation test: its null says nothing of the rate, so
  too many exceptions that do not cluster do not fail it). Why: at 250 days and 99% about 2.5 exceptions are expected,
  the LR statistics take a handful of discrete values and their chi2 limit is poor (the asymptotic tests reject
  too often or too rarely depending on n); the simulated null distribution is exact up to Monte Carlo error.
  Seeded: the same inputs give the same p-values. The asymptotic p-values are reported beside them.
* **Diebold-Mariano** (1995) on the per-day tick-loss differential ``d_t = l_model,t - l_bench,t`` of two VaR
  forecasts on the same days: ``DM = mean(d) / sqrt(S / n)`` with ``S`` the Newey-West (1987) long-run variance
  of ``d`` (Bartlett weights ``1 - k/(L+1)``, lag ``L = floor(n^(1/3))``), asymptotically N(0, 1).
  ``p_worse = 1 - Phi(DM)`` is one-sided: small when the model's tick loss is significantly *higher* than the
  benchmark's. Identical losses (``d = 0`` every day) give ``DM = 0`` and ``p_worse = 0.5``: no evidence either
  way. Tick loss is a strictly consistent scoring function for the quantile (Gneiting 2011), so a lower mean
  tick loss is a better VaR, whatever the exception count.
* **Model confidence set** (Hansen, Lunde and Nason 2011) at 90% from :class:`arch.bootstrap.MCS` (stationary
  bootstrap, ``R`` method, seeded) on the per-day tick losses: the methods not eliminated as worse than the
  others at size 10%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from risk_platform.errors import InputError
from risk_platform.validation.backtest import (
    christoffersen,
    independence_lr,
    kupiec_lr,
    kupiec_pof,
    tick_losses,
    traffic_light,
)
from risk_platform.validation.methods import BACKTEST_METHODS
from risk_platform.validation.var_forecasts import VarForecast

BOOTSTRAP_DRAWS = 2000
MCS_SIZE = 0.10
MCS_REPS = 1000
SEED = 0


def _monte_carlo_p(simulated: np.ndarray, observed: float) -> float:
    """``(1 + #{simulated >= observed}) / (1 + draws)`` (a tolerance absorbs rounding of equal statistics)."""
    count = int(np.sum(simulated >= observed - 1e-9))
    return (1 + count) / (1 + len(simulated))


def kupiec_bootstrap_p(exceptions: int, n: int, alpha: float, draws: int = BOOTSTRAP_DRAWS,
                       seed: int = SEED) -> float:
    """Monte Carlo p-value of Kupiec's LR under correct coverage (counts ~ Binomial(n, 1 - alpha))."""
    stat, _ = kupiec_pof(exceptions, n, alpha)  # validates the counts
    simulated = np.random.default_rng(seed).binomial(n, 1.0 - alpha, size=draws)
    return _monte_carlo_p(kupiec_lr(simulated, n, alpha), stat)


def christoffersen_bootstrap_p(hits: np.ndarray, alpha: float, draws: int = BOOTSTRAP_DRAWS,
                               seed: int = SEED) -> tuple[float, float]:
    """Monte Carlo p-values of Christoffersen's independence and conditional-coverage LRs. Independence: under
    its null (hits in random order, whatever their rate) by permuting the observed hits, so a wrong exception
    rate alone does not make it reject (that is Kupiec's job); conditional coverage: under i.i.d.
    Bernoulli(1 - alpha) hits of the same length."""
    h = np.asarray(hits, dtype=bool)
    lr_ind, _, lr_cc, _ = christoffersen(h, alpha)  # validates the length
    rng = np.random.default_rng(seed)
    permuted = rng.permuted(np.broadcast_to(h, (draws, len(h))), axis=1)
    simulated = rng.random((draws, len(h))) < 1.0 - alpha
    sim_cc = independence_lr(simulated) + kupiec_lr(simulated.sum(axis=1), len(h), alpha)
    return _monte_carlo_p(independence_lr(permuted), lr_ind), _monte_carlo_p(sim_cc, lr_cc)


@dataclass(frozen=True)
class DieboldMariano:
    """DM statistic of ``mean(l_model - l_bench)``, its one-sided p-value for "model worse", the HAC lag."""

    statistic: float
    p_worse: float
    mean_difference: float
    n: int
    lag: int


def newey_west_variance(d: np.ndarray, lag: int) -> float:
    """Long-run variance of ``d`` with Bartlett weights: ``g0 + 2 sum_k (1 - k/(lag+1)) g_k``."""
    e = np.asarray(d, dtype=float) - np.mean(d)
    n = len(e)
    total = float(e @ e) / n
    for k in range(1, min(lag, n - 1) + 1):
        total += 2.0 * (1.0 - k / (lag + 1)) * float(e[k:] @ e[:-k]) / n
    return total


def diebold_mariano(loss_model: np.ndarray, loss_bench: np.ndarray, lag: int | None = None) -> DieboldMariano:
    """Diebold-Mariano test of two per-day loss series on the same days (module docstring)."""
    a, b = np.asarray(loss_model, dtype=float), np.asarray(loss_bench, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise InputError(f"Diebold-Mariano: loss series must be 1-d and of the same length (at least 2), got"
                         f" {a.shape} and {b.shape}")
    d = a - b
    n = len(d)
    lag = int(np.floor(n ** (1 / 3))) if lag is None else lag
    mean, variance = float(np.mean(d)), newey_west_variance(d, lag)
    if variance <= 0.0:  # a constant differential: identical forecasts (0) or one always worse (+-inf)
        stat = 0.0 if mean == 0.0 else float(np.sign(mean) * np.inf)
    else:
        stat = mean / np.sqrt(variance / n)
    return DieboldMariano(stat, float(norm.sf(stat)), mean, n, lag)


def mcs_members(losses: pd.DataFrame, size: float = MCS_SIZE, reps: int = MCS_REPS, seed: int = SEED) -> set[str]:
    """The columns (methods) of ``losses`` (days x methods, per-day losses) in the model confidence set at
    ``1 - size``. Methods with identical losses every day are judged once (the set cannot tell them apart; its
    variance of their difference is zero) and share the verdict."""
    same: dict[bytes, list[str]] = {}
    for column in losses.columns:
        same.setdefault(losses[column].to_numpy(dtype=float).tobytes(), []).append(str(column))
    first = [names[0] for names in same.values()]
    if len(first) == 1:
        return set(map(str, losses.columns))
    from arch.bootstrap import MCS  # here, not at import: arch is slow to import and rarely needed

    mcs = MCS(losses[first], size=size, reps=reps, method="R", bootstrap="stationary", seed=seed)
    mcs.compute()
    included = {str(c) for c in mcs.included}
    return {name for names in same.values() if names[0] in included for name in names}


def method_kind(name: str) -> tuple[str, bool]:
    """A method's family (``baseline`` or ``model``) and whether it is learned, from ``BACKTEST_METHODS``; a
    name the table does not hold (``gnn``, ``gan``, ``vae`` of the crisis validation) is a learned model."""
    for m in BACKTEST_METHODS:
        if m.name == name:
            return m.family, m.learned
    return "model", True


def same_days(forecasts: Sequence[VarForecast]) -> list[VarForecast]:
    """The forecasts restricted to the days every one of them scores (their realized losses must agree)."""
    if not forecasts:
        raise InputError("comparison: no forecasts")
    common = forecasts[0].dates
    for f in forecasts[1:]:
        common = common.intersection(f.dates)
    if len(common) < 2:
        raise InputError(f"comparison: {len(common)} day(s) common to {', '.join(f.method for f in forecasts)}")
    out = []
    for f in forecasts:
        out.append(f.take(f.dates.get_indexer(common)))
    for f in out[1:]:
        if not np.allclose(f.losses, out[0].losses, equal_nan=False):
            raise InputError(f"comparison: {f.method} and {out[0].method} score different realized losses")
    return out


@dataclass(frozen=True)
class Comparison:
    """The reviewer's table at one confidence: a row per method on the same days, and the best method by mean
    tick loss among the baselines, the models, the learned models and the methods nothing learned (baselines
    and unlearned models): whether learning earns its place is ``best_learned`` against ``best_not_learned``.
    None when a group is empty."""

    alpha: float
    rows: list[dict]
    best_baseline: str | None
    best_model: str | None
    best_learned: str | None
    best_not_learned: str | None
    ticks: pd.DataFrame | None = field(default=None, compare=False, repr=False)  # per-day tick loss by method

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def row(self, method: str) -> dict:
        return next(r for r in self.rows if r["method"] == method)

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "rows": self.rows, "best_baseline": self.best_baseline,
                "best_model": self.best_model, "best_learned": self.best_learned,
                "best_not_learned": self.best_not_learned}


def _best(rows: list[dict], keep) -> str | None:
    chosen = [r for r in rows if keep(r)]
    return min(chosen, key=lambda r: (r["tick_loss"], r["exceptions"]))["method"] if chosen else None


def compare_methods(forecasts: Sequence[VarForecast], draws: int = BOOTSTRAP_DRAWS, seed: int = SEED) -> Comparison:
    """Per method on the days all score (:func:`same_days`), at their common confidence: n, exceptions, zone,
    Kupiec and Christoffersen (independence, conditional coverage) p asymptotic and bootstrap, mean tick loss,
    membership of the 90% model confidence set, and the DM ``p_worse`` against the best baseline."""
    alphas = {f.alpha for f in forecasts}
    if len(alphas) != 1:
        raise InputError(f"comparison: one confidence at a time, got {sorted(alphas)}")
    aligned = same_days(forecasts)
    alpha = aligned[0].alpha
    ticks = pd.DataFrame({f.method: tick_losses(f.losses, f.var, alpha) for f in aligned})
    members = mcs_members(ticks, seed=seed)
    rows = []
    for f in aligned:
        hits = f.losses > f.var
        n, x = len(hits), int(hits.sum())
        _, p_ind, _, p_cc = christoffersen(hits, alpha)
        boot_ind, boot_cc = christoffersen_bootstrap_p(hits, alpha, draws, seed)
        family, learned = method_kind(f.method)
        rows.append({"method": f.method, "family": family, "learned": learned, "n": n, "exceptions": x,
                     "expected_exceptions": n * (1 - alpha), "zone": traffic_light(x, n, alpha),
                     "kupiec_p": kupiec_pof(x, n, alpha)[1], "kupiec_p_boot": kupiec_bootstrap_p(x, n, alpha, draws,
                                                                                                 seed),
                     "christoffersen_p": p_ind, "christoffersen_p_boot": boot_ind,
                     "conditional_coverage_p": p_cc, "conditional_coverage_p_boot": boot_cc,
                     "tick_loss": float(ticks[f.method].mean()), "in_mcs_90": f.method in members})
    best_baseline = _best(rows, lambda r: r["family"] == "baseline")
    for r in rows:
        r["dm_p_worse_vs_best_baseline"] = (None if best_baseline in (None, r["method"]) else
                                            diebold_mariano(ticks[r["method"]], ticks[best_baseline]).p_worse)
    return Comparison(alpha, rows, best_baseline, _best(rows, lambda r: r["family"] == "model"),
                      _best(rows, lambda r: r["family"] == "model" and r["learned"]),
                      _best(rows, lambda r: not r["learned"]), ticks)
