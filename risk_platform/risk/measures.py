"""VaR and expected shortfall. Sign convention: losses are positive numbers (``loss = -P&L``).

Historical simulation (``n`` scenarios, confidence ``alpha``):

* ``VaR_alpha`` is the ``ceil(n * alpha)``-th smallest loss, i.e. the empirical alpha-quantile of losses
  with the inverted-CDF definition (as ``numpy.quantile(losses, alpha, method="inverted_cdf")``, but
  with ``n * alpha`` rounded against floating-point noise);
* ``ES_alpha`` is the Acerbi-Tasche tail mean over the worst ``n (1 - alpha)`` scenarios:
  ``(sum of losses above VaR + VaR * (n (1 - alpha) - #losses above VaR)) / (n (1 - alpha))``.

Parametric (zero mean, normal): ``VaR = z_alpha * sigma``, ``ES = sigma * phi(z_alpha) / (1 - alpha)``.
Generalized Pareto tails (peaks over threshold): :func:`fit_gpd`, :func:`gpd_var_es`.
Euler contributions sum exactly to the portfolio figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import norm
from scipy.stats import t as student_t

from risk_platform.errors import ComputationError, InputError
from risk_platform.ewma import EWMA_LAMBDA


@dataclass(frozen=True)
class TailEstimate:
    """VaR and ES at one confidence, both as positive losses."""

    alpha: float
    var: float
    es: float


def _tail_weights(losses: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """VaR and the Acerbi-Tasche scenario weights whose weighted mean of losses is ES. Shape (n,)."""
    n = losses.shape[0]
    if n == 0:
        raise ComputationError("no P&L scenarios")
    if not 0.0 < alpha < 1.0:
        raise InputError(f"confidence must be strictly between 0 and 1, got {alpha}")
    if not np.all(np.isfinite(losses)):
        raise ComputationError("P&L scenarios contain NaN or infinite values")
    k = math.ceil(n * alpha - 1e-9)
    var = float(np.partition(losses, max(k, 1) - 1)[max(k, 1) - 1])
    tail_mass = n * (1.0 - alpha)
    above = losses > var
    weights = above.astype(float)
    at_var = losses == var
    remaining = tail_mass - above.sum()
    if at_var.any() and remaining > 0:
        weights[at_var] = remaining / at_var.sum()
    return var, weights / tail_mass


def historical_var_es(pnl: np.ndarray, alpha: float) -> TailEstimate:
    """VaR and ES from P&L scenarios (shape (n,), gains positive) at confidence ``alpha``."""
    losses = -np.asarray(pnl, dtype=float)
    var, weights = _tail_weights(losses, alpha)
    return TailEstimate(alpha, var, float(weights @ losses))


def es_scenario_weights(pnl: np.ndarray, alpha: float) -> np.ndarray:
    """The Acerbi-Tasche weights (n,) of the P&L scenarios ``pnl`` (n,) whose weighted mean loss is the ES at
    ``alpha``: a position's Euler ES contribution is minus the same weighted mean of its P&L."""
    return _tail_weights(-np.asarray(pnl, dtype=float), alpha)[1]


def historical_es_contributions(pnl_by_position: np.ndarray, alpha: float) -> np.ndarray:
    """Euler (component) ES per position: the weighted tail mean of each position's loss.

    ``pnl_by_position`` has shape (n scenarios, m positions); the result (m,) sums to the portfolio ES.
    """
    losses = -np.asarray(pnl_by_position, dtype=float)
    _, weights = _tail_weights(losses.sum(axis=1), alpha)
    return weights @ losses


def ewma_covariance(returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """RiskMetrics EWMA covariance with zero mean, weights ``(1 - lam) lam**k`` normalised to sum to one.

    ``returns`` has shape (n dates, k factors), oldest first (NaN treated as no move); result (k, k).
    """
    x = np.nan_to_num(np.asarray(returns, dtype=float))
    n = x.shape[0]
    weights = (1.0 - lam) * lam ** np.arange(n - 1, -1, -1)
    weights /= weights.sum()
    return (x * weights[:, None]).T @ x


def normal_var_es(sigma: np.ndarray | float, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Zero-mean normal VaR and ES (losses positive) for standard deviations ``sigma``."""
    z = norm.ppf(alpha)
    sigma = np.asarray(sigma, dtype=float)
    return z * sigma, sigma * norm.pdf(z) / (1.0 - alpha)


def student_t_var_es(sigma: np.ndarray | float, nu: float, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """VaR and ES of a Student-t with ``nu`` degrees of freedom scaled to standard deviation ``sigma``.

    For the standard t: ``VaR = t_a``, ``ES = f(t_a) / (1 - alpha) * (nu + t_a**2) / (nu - 1)``; both are
    multiplied by ``sigma * sqrt((nu - 2) / nu)`` (unit variance). Requires ``nu > 2``.
    """
    q = student_t.ppf(alpha, nu)
    unit = np.sqrt((nu - 2.0) / nu)
    es = student_t.pdf(q, nu) / (1.0 - alpha) * (nu + q**2) / (nu - 1.0)
    sigma = np.asarray(sigma, dtype=float)
    return sigma * q * unit, sigma * es * unit



def fit_gpd(exceedances: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood shape ``xi`` and scale ``beta`` of a generalized Pareto distribution fitted to
    ``exceedances`` (shape (n,), the amounts by which values passed a threshold, all > 0).

    Grimshaw's (1993) profile likelihood in ``theta = xi / beta``: ``xi(theta) = mean(log(1 + theta y))`` and
    ``l(theta) = -n log(xi / theta) - n (1 + xi)``, maximised on a grid of ``theta * mean(y)`` over
    ``(-mean / max, 100]`` refined by a bounded scalar search (the exponential, ``xi = 0``, is a candidate too).
    :class:`ComputationError` on fewer than 10 exceedances."""
    y = np.asarray(exceedances, dtype=float)
    if len(y) < 10 or not np.all(np.isfinite(y) & (y > 0)):
        raise ComputationError(f"a GPD fit needs at least 10 positive finite exceedances, got {len(y)}")
    n, mean = len(y), float(y.mean())

    def profile(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xi = np.log1p(np.outer(theta, y)).mean(axis=1)
        return -n * np.log(xi / theta) - n * (1.0 + xi), xi

    lowest = -(1.0 - 1e-6) / float(y.max())
    grid = np.concatenate((np.linspace(lowest * mean, -1e-4, 80), np.geomspace(1e-4, 100.0, 120))) / mean
    loglik, _ = profile(grid)
    k = int(np.argmax(loglik))
    best = minimize_scalar(lambda th: -profile(np.array([th]))[0][0], method="bounded",
                           bounds=(grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]), options={"xatol": 1e-12})
    theta = float(best.x) if -best.fun >= loglik[k] else float(grid[k])
    top, xi = profile(np.array([theta]))
    if -n * math.log(mean) - n >= top[0]:  # the exponential limit fits at least as well
        return 0.0, mean
    return float(xi[0]), float(xi[0] / theta)


def gpd_var_es(threshold: float, xi: float, beta: float, exceed_fraction: float, alpha: float
               ) -> tuple[float, float]:
    """VaR and ES at ``alpha`` of a loss whose tail above ``threshold`` (passed with probability
    ``exceed_fraction`` = N_u / n) is generalized Pareto with shape ``xi`` and scale ``beta`` (McNeil and
    Frey, 2000; the peaks-over-threshold estimator):

    ``VaR = u + beta / xi * (((1 - alpha) / exceed_fraction) ** -xi - 1)`` (``xi -> 0``: ``u + beta *
    ln(exceed_fraction / (1 - alpha))``), ``ES = (VaR + beta - xi * u) / (1 - xi)``. The mean of a GPD tail with
    ``xi >= 1`` is infinite: ES is then ``inf`` (undefined, never a finite number). Units are those of
    ``threshold`` and ``beta`` (standardised residuals in conditional EVT: multiply both by sigma_t)."""
    if not 0.0 < alpha < 1.0:
        raise InputError(f"confidence must be strictly between 0 and 1, got {alpha}")
    if not 1.0 - alpha < exceed_fraction <= 1.0:
        raise ComputationError(f"GPD tail at {alpha:.2%} needs more than {1 - alpha:.2%} of the data above the"
                               f" threshold, got {exceed_fraction:.2%}")
    ratio = (1.0 - alpha) / exceed_fraction
    var = threshold - beta * math.log(ratio) if abs(xi) < 1e-8 else threshold + beta / xi * (ratio**-xi - 1.0)
    es = math.inf if xi >= 1.0 else (var + beta - xi * threshold) / (1.0 - xi)
    return var, es


@dataclass(frozen=True)
class PotTail:
    """A peaks-over-threshold tail of standardised losses: the threshold ``u`` (the ``threshold`` quantile of
    the sample), the fitted GPD shape ``xi`` and scale ``beta``, how many values passed ``u`` out of ``n``."""

    u: float
    xi: float
    beta: float
    exceedances: int
    n: int

    def var_es(self, alpha: float) -> tuple[float, float]:
        """VaR and ES at ``alpha`` from the tail (:func:`gpd_var_es`; ES is ``inf`` when ``xi >= 1``)."""
        return gpd_var_es(self.u, self.xi, self.beta, self.exceedances / self.n, alpha)


def fit_pot_tail(values: np.ndarray, threshold: float) -> PotTail:
    """The GPD (:func:`fit_gpd`) of ``values`` (shape (n,), finite) above their ``threshold`` quantile: the
    conditional EVT tail of the backtests and of the risk engine (McNeil and Frey, 2000)."""
    x = np.asarray(values, dtype=float)
    u = float(np.quantile(x, threshold))
    above = x[x > u] - u
    xi, beta = fit_gpd(above)
    return PotTail(u, xi, beta, len(above), len(x))
